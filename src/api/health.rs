use actix_web::{web, HttpResponse};

use crate::error::AppError;

/// `{"status": "ok" | "ready"}`
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    pub status: &'static str,
}
use crate::state::AppState;

/// The process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// The database answers and every migration has run.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let db = state.db.clone();
    let ready =
        web::block(move || db.ready()).await.map_err(|e| AppError::internal(anyhow::anyhow!("blocking pool: {e}")))?;
    match ready {
        Ok(true) => Ok(HttpResponse::Ok().json(Status { status: "ready" })),
        Ok(false) => Err(AppError::Unavailable(anyhow::anyhow!("migrations pending"))),
        Err(e) => Err(e),
    }
}
