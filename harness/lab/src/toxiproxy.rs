//! A small async client for the Toxiproxy HTTP API (v2.x).
//!
//! Proxies: create, list, get, update, enable/disable, delete, populate, reset.
//! Toxics: every type Toxiproxy ships (latency, bandwidth, slow_close, timeout,
//! reset_peer, slicer, limit_data), upstream or downstream, with a toxicity; add, list,
//! get, update, remove.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Errors from the Toxiproxy API, naming the request that failed.
#[derive(Debug, thiserror::Error)]
pub enum ToxiproxyError {
    #[error("toxiproxy {method} {url}: {source}")]
    Http {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("toxiproxy {method} {url}: HTTP {status}: {message}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    /// Toxiproxy keeps a toxic's type and stream on update and answers 200 regardless;
    /// asking for another type or stream is reported instead of silently ignored.
    #[error(
        "toxiproxy: toxic `{toxic}` on `{proxy}` is {actual}; an update cannot make it \
         {wanted} (remove it and add a new one)"
    )]
    Immutable {
        proxy: String,
        toxic: String,
        actual: String,
        wanted: String,
    },
}

/// A proxy as Toxiproxy reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proxy {
    pub name: String,
    /// `host:port` the proxy listens on.
    pub listen: String,
    /// `host:port` it forwards to.
    pub upstream: String,
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<Toxic>,
}

/// What to create: a name, a listen address and an upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyConfig {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
}

impl ProxyConfig {
    pub fn new(name: impl Into<String>, listen: SocketAddr, upstream: SocketAddr) -> Self {
        ProxyConfig {
            name: name.into(),
            listen: listen.to_string(),
            upstream: upstream.to_string(),
            enabled: true,
        }
    }
}

/// Fields to change on an existing proxy; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProxyUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Which direction a toxic acts on: client → upstream, or upstream → client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    #[default]
    Downstream,
}

/// The kinds of toxic, with Toxiproxy's attribute names and units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "attributes", rename_all = "snake_case")]
pub enum ToxicKind {
    /// Delays every chunk of data by `latency` ± `jitter` milliseconds.
    Latency { latency: u64, jitter: u64 },
    /// Limits the connection to `rate` KB/s.
    Bandwidth { rate: u64 },
    /// Delays the TCP close by `delay` milliseconds.
    SlowClose { delay: u64 },
    /// Stops all data; closes the connection after `timeout` ms (0: never).
    Timeout { timeout: u64 },
    /// Resets the connection (TCP RST) `timeout` ms after the first data passes in the
    /// toxic's direction (an idle connection is never reset).
    ResetPeer { timeout: u64 },
    /// Slices data into packets of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: u64,
    },
    /// Closes the connection after `bytes` bytes have passed.
    LimitData { bytes: u64 },
}

impl ToxicKind {
    /// Toxiproxy's name for the type (`latency`, `reset_peer`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
        }
    }
}

/// A toxic on a proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toxic {
    pub name: String,
    pub stream: Stream,
    /// Probability in [0, 1] that a new connection gets the toxic.
    pub toxicity: f32,
    #[serde(flatten)]
    pub kind: ToxicKind,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Toxic {
    /// A toxic on every connection (toxicity 1.0), downstream.
    pub fn new(name: impl Into<String>, kind: ToxicKind) -> Self {
        Toxic {
            name: name.into(),
            stream: Stream::Downstream,
            toxicity: 1.0,
            kind,
        }
    }

    pub fn latency(name: impl Into<String>, latency: Duration, jitter: Duration) -> Self {
        Self::new(
            name,
            ToxicKind::Latency {
                latency: millis(latency),
                jitter: millis(jitter),
            },
        )
    }

    /// `rate_kb_per_s` kilobytes per second.
    pub fn bandwidth(name: impl Into<String>, rate_kb_per_s: u64) -> Self {
        Self::new(
            name,
            ToxicKind::Bandwidth {
                rate: rate_kb_per_s,
            },
        )
    }

    pub fn slow_close(name: impl Into<String>, delay: Duration) -> Self {
        Self::new(
            name,
            ToxicKind::SlowClose {
                delay: millis(delay),
            },
        )
    }

    pub fn timeout(name: impl Into<String>, timeout: Duration) -> Self {
        Self::new(
            name,
            ToxicKind::Timeout {
                timeout: millis(timeout),
            },
        )
    }

    pub fn reset_peer(name: impl Into<String>, timeout: Duration) -> Self {
        Self::new(
            name,
            ToxicKind::ResetPeer {
                timeout: millis(timeout),
            },
        )
    }

    pub fn slicer(
        name: impl Into<String>,
        average_size: u64,
        size_variation: u64,
        delay: Duration,
    ) -> Self {
        let delay = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        Self::new(
            name,
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            },
        )
    }

    pub fn limit_data(name: impl Into<String>, bytes: u64) -> Self {
        Self::new(name, ToxicKind::LimitData { bytes })
    }

    pub fn upstream(mut self) -> Self {
        self.stream = Stream::Upstream;
        self
    }

    pub fn downstream(mut self) -> Self {
        self.stream = Stream::Downstream;
        self
    }

    pub fn with_toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity.clamp(0.0, 1.0);
        self
    }
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct Populated {
    proxies: Vec<Proxy>,
}

#[derive(Deserialize)]
struct Version {
    version: String,
}

/// Client for one Toxiproxy server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Toxiproxy {
    http: reqwest::Client,
    base: String,
}

impl Toxiproxy {
    /// A client for the API at `addr`, with a 10 s bound on every request.
    pub fn new(addr: SocketAddr) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .unwrap_or_default();
        Toxiproxy {
            http,
            base: format!("http://{addr}"),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `base/seg1/seg2...`, each segment percent-encoded (names may hold any character).
    fn url(&self, segments: &[&str]) -> String {
        let mut url = reqwest::Url::parse(&self.base).expect("base URL is valid by construction");
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().extend(segments);
        }
        url.into()
    }

    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Option<T>, ToxiproxyError> {
        let url = self.url(segments);
        let name = method_name(&method);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let http = |source| ToxiproxyError::Http {
            method: name,
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(http)?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<ApiError>(&text)
                .map(|e| e.error)
                .ok()
                .filter(|e| !e.is_empty())
                .unwrap_or(text);
            return Err(ToxiproxyError::Status {
                method: name,
                url,
                status: status.as_u16(),
                message,
            });
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        response.json::<T>().await.map(Some).map_err(http)
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &[&str]) -> Result<T, ToxiproxyError> {
        let answer = self
            .send::<T>(reqwest::Method::GET, path, None::<&()>)
            .await?;
        answer.ok_or_else(|| self.empty("GET", path))
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &[&str],
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, ToxiproxyError> {
        let answer = self
            .send::<T>(reqwest::Method::POST, path, Some(body))
            .await?;
        answer.ok_or_else(|| self.empty("POST", path))
    }

    async fn delete(&self, path: &[&str]) -> Result<(), ToxiproxyError> {
        self.send::<serde_json::Value>(reqwest::Method::DELETE, path, None::<&()>)
            .await
            .map(drop)
    }

    fn empty(&self, method: &'static str, path: &[&str]) -> ToxiproxyError {
        ToxiproxyError::Status {
            method,
            url: self.url(path),
            status: 204,
            message: "expected a body, got none".into(),
        }
    }

    /// The server's version string (also the readiness probe).
    pub async fn version(&self) -> Result<String, ToxiproxyError> {
        let url = self.url(&["version"]);
        let http = |source| ToxiproxyError::Http {
            method: "GET",
            url: url.clone(),
            source,
        };
        let response = self.http.get(&url).send().await.map_err(http)?;
        let status = response.status();
        let text = response.text().await.map_err(http)?;
        if !status.is_success() {
            let status = status.as_u16();
            return Err(ToxiproxyError::Status {
                method: "GET",
                url,
                status,
                message: text,
            });
        }
        // 2.x answers {"version": "..."}; older servers a bare string.
        Ok(serde_json::from_str::<Version>(&text)
            .map(|v| v.version)
            .unwrap_or(text))
    }

    /// Removes every toxic from every proxy and enables them all.
    pub async fn reset(&self) -> Result<(), ToxiproxyError> {
        self.send::<serde_json::Value>(reqwest::Method::POST, &["reset"], None::<&()>)
            .await
            .map(drop)
    }

    pub async fn proxies(&self) -> Result<BTreeMap<String, Proxy>, ToxiproxyError> {
        self.get(&["proxies"]).await
    }

    pub async fn proxy(&self, name: &str) -> Result<Proxy, ToxiproxyError> {
        self.get(&["proxies", name]).await
    }

    pub async fn create_proxy(&self, config: &ProxyConfig) -> Result<Proxy, ToxiproxyError> {
        self.post(&["proxies"], config).await
    }

    /// Creates or replaces proxies in one call (Toxiproxy's `/populate`).
    pub async fn populate(&self, configs: &[ProxyConfig]) -> Result<Vec<Proxy>, ToxiproxyError> {
        let populated: Populated = self.post(&["populate"], configs).await?;
        Ok(populated.proxies)
    }

    pub async fn update_proxy(
        &self,
        name: &str,
        update: &ProxyUpdate,
    ) -> Result<Proxy, ToxiproxyError> {
        self.post(&["proxies", name], update).await
    }

    /// Disabling a proxy closes its connections and refuses new ones (a `down` fault).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<Proxy, ToxiproxyError> {
        let update = ProxyUpdate {
            enabled: Some(enabled),
            ..ProxyUpdate::default()
        };
        self.update_proxy(name, &update).await
    }

    pub async fn delete_proxy(&self, name: &str) -> Result<(), ToxiproxyError> {
        self.delete(&["proxies", name]).await
    }

    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ToxiproxyError> {
        self.get(&["proxies", proxy, "toxics"]).await
    }

    pub async fn toxic(&self, proxy: &str, toxic: &str) -> Result<Toxic, ToxiproxyError> {
        self.get(&["proxies", proxy, "toxics", toxic]).await
    }

    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, ToxiproxyError> {
        self.post(&["proxies", proxy, "toxics"], toxic).await
    }

    /// Replaces a toxic's attributes and toxicity. Its type and stream cannot change:
    /// asking for another is a [`ToxiproxyError::Immutable`] error.
    pub async fn update_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, ToxiproxyError> {
        let updated: Toxic = self
            .post(&["proxies", proxy, "toxics", &toxic.name], toxic)
            .await?;
        let shape = |t: &Toxic| format!("a {} toxic on {:?}", t.kind.type_name(), t.stream);
        if updated.stream != toxic.stream || updated.kind.type_name() != toxic.kind.type_name() {
            return Err(ToxiproxyError::Immutable {
                proxy: proxy.to_string(),
                toxic: toxic.name.clone(),
                actual: shape(&updated),
                wanted: shape(toxic),
            });
        }
        Ok(updated)
    }

    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ToxiproxyError> {
        self.delete(&["proxies", proxy, "toxics", toxic]).await
    }
}

fn method_name(method: &reqwest::Method) -> &'static str {
    match *method {
        reqwest::Method::GET => "GET",
        reqwest::Method::POST => "POST",
        reqwest::Method::DELETE => "DELETE",
        _ => "request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxic_serialises_as_toxiproxy_expects() {
        let toxic = Toxic::latency(
            "slow",
            Duration::from_millis(300),
            Duration::from_millis(20),
        )
        .upstream()
        .with_toxicity(0.5);
        let json = serde_json::to_value(&toxic).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({
                "name": "slow", "type": "latency", "stream": "upstream", "toxicity": 0.5,
                "attributes": {"latency": 300, "jitter": 20}
            })
        );
        let back: Toxic = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, toxic);
    }

    #[test]
    fn every_kind_has_toxiproxys_type_name() {
        let kinds = [
            (Toxic::bandwidth("a", 10), "bandwidth"),
            (
                Toxic::slow_close("a", Duration::from_millis(1)),
                "slow_close",
            ),
            (Toxic::timeout("a", Duration::ZERO), "timeout"),
            (Toxic::reset_peer("a", Duration::ZERO), "reset_peer"),
            (
                Toxic::slicer("a", 8, 2, Duration::from_micros(10)),
                "slicer",
            ),
            (Toxic::limit_data("a", 5), "limit_data"),
        ];
        for (toxic, name) in kinds {
            let json = serde_json::to_value(&toxic).expect("serialise");
            assert_eq!(json["type"], name);
            assert!(json["attributes"].is_object());
        }
    }
}
