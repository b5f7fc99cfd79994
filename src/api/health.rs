use actix_web::{web, HttpResponse};

use crate::error::AppError;
use crate::state::AppState;

/// The process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers and every migration has run.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let db = state.db.clone();
    let ready =
        web::block(move || db.ready()).await.map_err(|e| AppError::internal(anyhow::anyhow!("blocking pool: {e}")))?;
    match ready {
        Ok(true) => Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))),
        Ok(false) => Err(AppError::Unavailable(anyhow::anyhow!("migrations pending"))),
        Err(e) => Err(e),
    }
}
