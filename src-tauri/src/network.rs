//! Hears when the network comes back, so a sync that failed offline retries
//! within seconds instead of waiting out its backoff.
//!
//! On Linux, NetworkManager announces `StateChanged(u32)` on the system bus;
//! [`CONNECTED_GLOBAL`] means full connectivity. Where there is no system
//! bus or no NetworkManager, nothing is heard and the failure backoff alone
//! brings the retry (at most the sync interval).

use futures::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use crate::controller::Request;

/// NetworkManager's `NM_STATE_CONNECTED_GLOBAL`.
pub const CONNECTED_GLOBAL: u32 = 70;

const NM_PATH: &str = "/org/freedesktop/NetworkManager";
const NM_INTERFACE: &str = "org.freedesktop.NetworkManager";

/// Whether a NetworkManager state means the network is fully back.
pub fn is_back(state: u32) -> bool {
    state == CONNECTED_GLOBAL
}

/// Sends [`Request::NetworkUp`] each time NetworkManager reports full
/// connectivity, until the controller is gone. Returns early (logged) when
/// the system bus cannot be reached.
pub async fn watch(requests: UnboundedSender<Request>) {
    if let Err(e) = listen(&requests).await {
        tracing::info!(error = %e, "network changes are not watched; offline retries follow the backoff");
    }
}

async fn listen(requests: &UnboundedSender<Request>) -> zbus::Result<()> {
    let conn = zbus::Connection::system().await?;
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .path(NM_PATH)?
        .interface(NM_INTERFACE)?
        .member("StateChanged")?
        .build();
    let mut signals = zbus::MessageStream::for_match_rule(rule, &conn, None).await?;
    tracing::debug!("watching NetworkManager's state");
    while let Some(msg) = signals.next().await {
        let Ok(msg) = msg else { continue };
        let Ok(state) = msg.body().deserialize::<u32>() else {
            continue;
        };
        if is_back(state) {
            tracing::info!("the network is back");
            if requests.send(Request::NetworkUp).is_err() {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_global_connectivity_counts_as_back() {
        // NM_STATE_* : asleep 10, disconnected 20, connecting 40, local 50, site 60.
        for state in [0, 10, 20, 30, 40, 50, 60] {
            assert!(!is_back(state), "{state}");
        }
        assert!(is_back(70));
    }
}
