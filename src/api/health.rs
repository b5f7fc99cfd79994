use actix_web::{web, HttpResponse};

use crate::error::AppError;

/// `{"status": "ok" | "ready"}`; `/readyz` adds whether the web form takes alerts.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    pub status: &'static str,
    /// `open` or `closed` (`/readyz` only). The API is ready either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<&'static str>,
    /// Why the form is closed (no names; an admin's `GET /api/v1/form/intake` says more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form_detail: Option<&'static str>,
}
use crate::state::AppState;

/// The process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok", form: None, form_detail: None })
}

/// The database answers and every migration has run.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let db = state.db.clone();
    let ready =
        web::block(move || db.ready()).await.map_err(|e| AppError::internal(anyhow::anyhow!("blocking pool: {e}")))?;
    match ready {
        Ok(true) => {
            let st = state.clone();
            let intake = state.db.read(move |c| crate::domain::intake::status(c, &st.config)).await?;
            let form = if intake.open_for().is_some() { "open" } else { "closed" };
            Ok(HttpResponse::Ok().json(Status {
                status: "ready",
                form: Some(form),
                form_detail: intake.public_reason(),
            }))
        }
        Ok(false) => Err(AppError::Unavailable(anyhow::anyhow!("migrations pending"))),
        Err(e) => Err(e),
    }
}
