//! The PartnerMatcher service.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};

use crate::engine::{Engine, Error};

use super::convert::{match_query_from_proto, match_response_to_proto};
use super::pb;
use super::pb::partner_matcher_server::PartnerMatcher;

pub struct MatcherService {
    engine: Arc<Engine>,
}

impl MatcherService {
    pub fn new(engine: Arc<Engine>) -> MatcherService {
        MatcherService { engine }
    }
}

#[tonic::async_trait]
impl PartnerMatcher for MatcherService {
    async fn r#match(
        &self,
        request: Request<pb::MatchRequest>,
    ) -> Result<Response<pb::MatchResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let query = match_query_from_proto(request, &self.engine.config().scoring)
            .map_err(Error::Invalid)?;
        let response = self.engine.match_partners(&query, |outcome| {
            let took_micros = started.elapsed().as_micros() as u64;
            tracing::debug!(
                school_id = %query.school_id,
                mode = query.mode.name(),
                candidates = outcome.candidates.len(),
                considered = outcome.considered,
                took_micros,
                "matched"
            );
            match_response_to_proto(outcome, took_micros)
        })?;
        Ok(Response::new(response))
    }
}
