//! The bundled reference platform server (`ctl server`).

pub mod catalogue;
pub mod orchestrator;
// TEMP STUB
/// x
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct ServerError;
/// x
pub struct ServerConfig {
    /// x
    pub catalogue: std::sync::Arc<catalogue::Catalogue>,
}
impl ServerConfig {
    /// x
    pub fn in_memory() -> Self {
        ServerConfig {
            catalogue: std::sync::Arc::new(catalogue::Catalogue::builtin()),
        }
    }
}
/// x
pub async fn run(
    _l: tokio::net::TcpListener,
    _c: ServerConfig,
    s: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    s.await;
    Ok(())
}
