//! The PartnerMatcher service.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};

use crate::engine::Engine;

use super::convert::{
    broker_query_from_proto, broker_response_to_proto, group_query_from_proto, groups_to_proto,
    match_query_from_proto, match_response_to_proto,
};
use super::error::{OrStatus, invalid};
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
        let query =
            match_query_from_proto(request, &self.engine.config().scoring).map_err(invalid)?;
        let response = self
            .engine
            .match_partners(&query, |outcome| {
                let took_micros = started.elapsed().as_micros() as u64;
                tracing::debug!(
                    school_id = %query.seeker,
                    mode = query.constraints.mode.name(),
                    candidates = outcome.candidates.len(),
                    considered = outcome.considered,
                    took_micros,
                    "matched"
                );
                match_response_to_proto(outcome, took_micros)
            })
            .or_status()?;
        Ok(Response::new(response))
    }

    async fn broker(
        &self,
        request: Request<pb::BrokerRequest>,
    ) -> Result<Response<pb::BrokerResponse>, Status> {
        let started = Instant::now();
        let query = broker_query_from_proto(request.into_inner(), &self.engine.config().scoring)
            .map_err(invalid)?;
        // Brokerage runs hundreds of searches: keep it off the async workers.
        let engine = Arc::clone(&self.engine);
        let response = tokio::task::spawn_blocking(move || {
            engine.broker(&query, |outcome| {
                let took_micros = started.elapsed().as_micros() as u64;
                tracing::info!(
                    pairs = outcome.optimal.pairs,
                    total_score = outcome.optimal.total_score,
                    greedy_total_score = outcome.greedy.total_score,
                    rounds = outcome.rounds,
                    took_micros,
                    "brokered"
                );
                broker_response_to_proto(outcome, took_micros)
            })
        })
        .await
        .map_err(|join| Status::internal(format!("brokerage task failed: {join}")))?
        .or_status()?;
        Ok(Response::new(response))
    }

    async fn form_groups(
        &self,
        request: Request<pb::FormGroupsRequest>,
    ) -> Result<Response<pb::FormGroupsResponse>, Status> {
        let query = group_query_from_proto(request.into_inner()).map_err(invalid)?;
        let engine = Arc::clone(&self.engine);
        let response = tokio::task::spawn_blocking(move || {
            engine
                .form_groups(&query)
                .map(|(snapshot, outcome)| groups_to_proto(&snapshot, &outcome))
        })
        .await
        .map_err(|join| Status::internal(format!("group formation task failed: {join}")))?
        .or_status()?;
        Ok(Response::new(response))
    }
}
