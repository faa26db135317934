//! Leader election through a `coordination.k8s.io/v1` Lease, so that two replicas never apply
//! at once. Followers keep answering webhooks and showing status; they take over when the
//! leader stops renewing (crash) or releases the lease (shutdown).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::apply::{Cluster, ClusterError};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// How long a holder keeps the lease without renewing.
    pub duration: Duration,
    /// This instance's identity (pod name and pid).
    pub identity: String,
}

/// Tries to take or keep the lease.
pub struct Elector {
    cluster: Arc<Cluster>,
    cfg: LeaseConfig,
}

fn micro_time(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

fn parse_micro_time(s: &str) -> Option<std::time::SystemTime> {
    // YYYY-MM-DDTHH:MM:SS[.ffffff]Z
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |a: usize, l: usize| s.get(a..a + l)?.parse::<i64>().ok();
    let (y, m, d, hh, mm, ss) = (n(0, 4)?, n(5, 2)?, n(8, 2)?, n(11, 2)?, n(14, 2)?, n(17, 2)?);
    let micros = s.get(20..s.len() - 1).and_then(|f| format!("{f:0<6}").get(..6)?.parse::<u64>().ok()).unwrap_or(0);
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64) + Duration::from_micros(micros))
}

impl Elector {
    /// An elector for `cfg` on `cluster`.
    pub fn new(cluster: Arc<Cluster>, cfg: LeaseConfig) -> Elector {
        Elector { cluster, cfg }
    }

    /// This instance's identity.
    pub fn identity(&self) -> &str {
        &self.cfg.identity
    }

    /// Takes the lease if it is free or expired, renews it if held; true while leading.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, ClusterError> {
        let rt = self.cluster.resolve("coordination.k8s.io/v1", "Lease").await?;
        let now = std::time::SystemTime::now();
        let spec = |transitions: i64, acquire: &str| {
            json!({
                "holderIdentity": self.cfg.identity,
                "leaseDurationSeconds": self.cfg.duration.as_secs().max(1),
                "acquireTime": acquire,
                "renewTime": micro_time(now),
                "leaseTransitions": transitions,
            })
        };
        let Some(live) = self.cluster.get(&rt, Some(&self.cfg.namespace), &self.cfg.name).await? else {
            let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.cfg.name, "namespace": self.cfg.namespace}, "spec": spec(0, &micro_time(now))});
            return match self.cluster.create_once(&rt, &lease).await {
                Ok(_) => Ok(true),
                Err(e) if matches!(e.code(), Some(409)) => Ok(false),
                Err(e) if e.is_not_found() => {
                    ensure_namespace(&self.cluster, &self.cfg.namespace).await?;
                    Ok(false)
                }
                Err(e) => Err(e),
            };
        };
        let holder = live.pointer("/spec/holderIdentity").and_then(Value::as_str).unwrap_or("");
        let duration = live.pointer("/spec/leaseDurationSeconds").and_then(Value::as_u64).unwrap_or(15);
        let renewed = live.pointer("/spec/renewTime").and_then(Value::as_str).and_then(parse_micro_time);
        let expired = renewed.is_none_or(|t| t + Duration::from_secs(duration) < now);
        let mine = holder == self.cfg.identity;
        if !(mine || holder.is_empty() || expired) {
            return Ok(false);
        }
        let transitions =
            live.pointer("/spec/leaseTransitions").and_then(Value::as_i64).unwrap_or(0) + i64::from(!mine);
        let acquire = if mine {
            live.pointer("/spec/acquireTime").and_then(Value::as_str).unwrap_or("").to_string()
        } else {
            micro_time(now)
        };
        let mut next = live.clone();
        next["spec"] = spec(transitions, &acquire);
        match self.cluster.replace_once(&rt, &next).await {
            Ok(_) => {
                if !mine {
                    tracing::info!(identity = %self.cfg.identity, previous = holder, "became the leader");
                }
                Ok(true)
            }
            Err(e) if matches!(e.code(), Some(409)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (at shutdown) so a follower takes over at once.
    pub async fn release(&self) {
        let Ok(rt) = self.cluster.resolve("coordination.k8s.io/v1", "Lease").await else { return };
        if let Ok(Some(mut live)) = self.cluster.get(&rt, Some(&self.cfg.namespace), &self.cfg.name).await {
            if live.pointer("/spec/holderIdentity").and_then(Value::as_str) == Some(self.cfg.identity.as_str()) {
                live["spec"]["holderIdentity"] = Value::String(String::new());
                live["spec"]["leaseDurationSeconds"] = json!(1);
                let _ = self.cluster.replace_once(&rt, &live).await;
                tracing::info!("released the leader lease");
            }
        }
    }
}

async fn ensure_namespace(cluster: &Cluster, namespace: &str) -> Result<(), ClusterError> {
    let ns = cluster.resolve("v1", "Namespace").await?;
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    cluster.apply(&ns, &obj, true, false).await.map(drop)
}

/// This process's identity: the pod name (`POD_NAME`, else the host name) and the pid.
pub fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "tidegate".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_times_round_trip() {
        let t = std::time::UNIX_EPOCH + Duration::from_micros(1_763_766_123_456_789);
        let s = micro_time(t);
        assert_eq!(s, "2025-11-21T23:02:03.456789Z");
        assert_eq!(parse_micro_time(&s), Some(t));
        assert_eq!(
            parse_micro_time("2024-02-29T00:00:00Z"),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_709_164_800))
        );
    }
}
