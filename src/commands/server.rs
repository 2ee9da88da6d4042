//! stub
/// x
#[derive(Debug, clap::Args)]
pub struct ServerArgs {}
/// x
pub fn run(_a: ServerArgs) -> Result<(), crate::server::ServerError> {
    Ok(())
}
