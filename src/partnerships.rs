//! The PartnershipRegistry service: convert, call the engine, convert back.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::domain::Violations;
use crate::engine::{Engine, Error};

use super::convert::{
    list_partnerships_from_proto, list_partnerships_to_proto, partnership_id, partnership_to_proto,
    partnership_with_impact_to_proto, proposal_from_proto, proposed_to_proto, update_from_proto,
};
use super::error::{OrStatus, invalid};
use super::pb;
use super::pb::partnership_registry_server::PartnershipRegistry;

pub struct PartnershipService {
    engine: Arc<Engine>,
}

impl PartnershipService {
    pub fn new(engine: Arc<Engine>) -> PartnershipService {
        PartnershipService { engine }
    }

    async fn write<T, F>(&self, write: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, Error> + Send + 'static,
    {
        super::write_off_workers(&self.engine, write).await
    }
}

#[tonic::async_trait]
impl PartnershipRegistry for PartnershipService {
    async fn propose_partnership(
        &self,
        request: Request<pb::ProposePartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        let proposal = proposal_from_proto(request.into_inner()).map_err(invalid)?;
        let partnership = self
            .write(move |engine| engine.propose_partnership(proposal))
            .await?;
        tracing::info!(id = %partnership.id, kind = %partnership.kind, "partnership proposed");
        let warnings = self.engine.focus_warnings(&partnership);
        for warning in &warnings {
            tracing::warn!(
                id = %partnership.id,
                area = %warning.area,
                reason = %warning.reason,
                "partnership proposed on a focus neither side has"
            );
        }
        Ok(Response::new(proposed_to_proto(&partnership, warnings)))
    }

    async fn update_partnership(
        &self,
        request: Request<pb::UpdatePartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        let update = update_from_proto(request.into_inner()).map_err(invalid)?;
        let partnership = self
            .write(move |engine| engine.update_partnership(update))
            .await?;
        tracing::info!(
            id = %partnership.id,
            status = %partnership.status,
            version = partnership.version,
            "partnership updated"
        );
        Ok(Response::new(partnership_to_proto(&partnership)))
    }

    async fn get_partnership(
        &self,
        request: Request<pb::GetPartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        let pb::GetPartnershipRequest { id } = request.into_inner();
        let mut v = Violations::new();
        let id = partnership_id(&mut v, "id", &id).ok_or_else(|| invalid(v))?;
        let (partnership, impact) = self
            .engine
            .get_partnership_with_impact(id.as_str())
            .or_status()?;
        Ok(Response::new(partnership_with_impact_to_proto(
            &partnership,
            &impact,
        )))
    }

    async fn list_partnerships(
        &self,
        request: Request<pb::ListPartnershipsRequest>,
    ) -> Result<Response<pb::ListPartnershipsResponse>, Status> {
        let (filter, page) = list_partnerships_from_proto(request.into_inner()).map_err(invalid)?;
        let partnerships = self
            .engine
            .list_partnerships(&filter, page.after.as_deref(), page.size);
        Ok(Response::new(list_partnerships_to_proto(
            &partnerships,
            &page,
        )))
    }
}
