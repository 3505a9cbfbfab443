//! Plain TCP: octet-counted RFC 5424 with no encryption and no
//! authentication. For tests and a trusted loopback only; the name says so.

use std::pin::Pin;

use tokio::net::TcpStream;

use super::{OutputError, Stream};

/// Connects to `host:port`, resolving the name again on every attempt (a
/// receiver Service may move).
pub(crate) struct TcpConnector {
    address: String,
}

impl TcpConnector {
    pub(crate) fn new(address: &str) -> Result<TcpConnector, OutputError> {
        split_host_port(address)?;
        Ok(TcpConnector {
            address: address.to_owned(),
        })
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    pub(crate) async fn connect(&self) -> Result<Pin<Box<dyn Stream>>, OutputError> {
        Ok(Box::pin(connect_tcp(&self.address).await?))
    }
}

/// Resolves `address` now and connects to the first address that answers.
pub(crate) async fn connect_tcp(address: &str) -> Result<TcpStream, OutputError> {
    let io_err = |stage, source| OutputError::Io {
        peer: address.to_owned(),
        stage,
        source,
    };
    let addrs = tokio::net::lookup_host(address)
        .await
        .map_err(|e| io_err("resolve", e))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                // Batches are already large: Nagle would only add latency.
                s.set_nodelay(true)
                    .map_err(|e| io_err("set TCP_NODELAY", e))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(io_err(
        "connect",
        last.unwrap_or_else(|| std::io::Error::other("name resolved to no address")),
    ))
}

/// Splits `host:port` (`[v6]:port` for IPv6 literals).
pub(crate) fn split_host_port(address: &str) -> Result<(&str, u16), OutputError> {
    let bad = |reason: &str| OutputError::Address {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port, e.g. rsyslog.infra.svc:6514"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("port must be a number from 1 to 65535"))?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_ipv4_and_bracketed_ipv6() {
        assert_eq!(
            split_host_port("rsyslog.infra.svc:6514").unwrap(),
            ("rsyslog.infra.svc", 6514)
        );
        assert_eq!(split_host_port("127.0.0.1:1").unwrap(), ("127.0.0.1", 1));
        assert_eq!(split_host_port("[::1]:6514").unwrap(), ("::1", 6514));
    }

    #[test]
    fn rejects_addresses_without_a_usable_port() {
        for bad in ["rsyslog", "rsyslog:", "rsyslog:0", "rsyslog:99999", ":6514"] {
            let err = split_host_port(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
