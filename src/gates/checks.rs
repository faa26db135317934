//! The gates decided from the reconciler's observation and the request alone: `source-healthy`,
//! `soak` and `approval`. Pure.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{GateInput, GateResult, Outcome, duration};

fn result(gate: &str, outcome: Outcome, evidence: String, retry_at: Option<DateTime<Utc>>) -> GateResult {
    GateResult { gate: gate.to_string(), outcome, evidence, retry_at }
}

/// `source-healthy`: the app in the source environment is synced at exactly the images being
/// promoted, and healthy.
///
/// Every way of not passing is `waiting` without a `retry_at`: a rollout in progress, a source
/// environment that moved on to another tag, or an unhealthy app all change by themselves
/// (the reconciler re-evaluates on the next observation), and none of them is a verdict on the
/// images being promoted.
pub fn source_healthy(input: &GateInput<'_>) -> GateResult {
    const GATE: &str = "source-healthy";
    let (app, env) = (input.app, input.source_env);
    let waiting = |evidence: String| result(GATE, Outcome::Waiting, evidence, None);
    let Some(source) = input.source else {
        return waiting(format!("{app} has not been observed in {env} yet"));
    };
    let detail = source.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
    let mut mismatches = Vec::new();
    for image in input.images {
        let name = image_name(image);
        let live: Vec<&str> =
            source.synced_images.iter().map(String::as_str).filter(|live| image_name(live) == name).collect();
        if !live.contains(&image.as_str()) {
            let runs = if live.is_empty() { "nothing".to_string() } else { live.join(", ") };
            mismatches.push(format!("{image} (runs {runs})"));
        }
    }
    if !mismatches.is_empty() {
        return waiting(format!("{app} in {env} does not run the promoted images yet: {}", mismatches.join("; ")));
    }
    if !source.sync.eq_ignore_ascii_case("synced") {
        let sync = if source.sync.is_empty() { "unknown" } else { source.sync.as_str() };
        return waiting(format!("{app} in {env} is not synced (sync status {sync}){detail}"));
    }
    if !source.healthy {
        return waiting(format!("{app} in {env} is not healthy{detail}"));
    }
    let at = source.revision.as_deref().map(|r| format!(" at revision {r}")).unwrap_or_default();
    let images = if input.images.is_empty() { "no images".to_string() } else { input.images.join(", ") };
    result(GATE, Outcome::Passed, format!("{app} in {env} is synced{at} and healthy, running {images}"), None)
}

/// The image name without its tag or digest: `ghcr.io:443/org/app:1.2` → `ghcr.io:443/org/app`.
fn image_name(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    match image.rfind(':') {
        // A colon before the last slash belongs to a registry port, not a tag.
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// `soak`: healthy continuously for at least `soak` (the source's `healthy_since`).
///
/// Waiting with `retry_at = healthy_since + soak` while the time has not passed; waiting with no
/// `retry_at` while the app is not healthy (the clock has not started). A zero soak passes as
/// soon as the app is healthy. An unknown `healthy_since` counts from `now`.
pub fn soak(soak: Duration, input: &GateInput<'_>) -> GateResult {
    const GATE: &str = "soak";
    let (app, env) = (input.app, input.source_env);
    let want = duration::format(soak);
    let Some(source) = input.source.filter(|s| s.healthy) else {
        return result(
            GATE,
            Outcome::Waiting,
            format!("{app} is not healthy in {env}; the {want} soak has not started"),
            None,
        );
    };
    let since = source.healthy_since.unwrap_or(input.now).min(input.now);
    let soak_delta = TimeDelta::from_std(soak).unwrap_or(TimeDelta::MAX);
    let ready_at = since.checked_add_signed(soak_delta).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let healthy_for = (input.now - since).to_std().unwrap_or_default();
    let healthy_for_text = duration::format(Duration::from_secs(healthy_for.as_secs()));
    let since_text = since.format("%Y-%m-%d %H:%M:%S UTC");
    if input.now >= ready_at {
        let evidence = format!("{app} healthy in {env} for {healthy_for_text} (since {since_text}; soak {want})");
        result(GATE, Outcome::Passed, evidence, None)
    } else {
        let evidence = format!(
            "{app} healthy in {env} for {healthy_for_text} of {want} (since {since_text}); soaks until {}",
            ready_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        result(GATE, Outcome::Waiting, evidence, Some(ready_at))
    }
}

/// `approval`: when the target environment requires it, only a person's `/promote` passes.
pub fn approval(require_approval: bool, input: &GateInput<'_>) -> GateResult {
    const GATE: &str = "approval";
    let (app, target) = (input.app, input.target_env);
    // `@login` for a GitHub login; anything else (the command line's requester) as written,
    // so that it never mentions a stranger.
    let person = |who: &str| if crate::chatops::is_login(who) { format!("@{who}") } else { who.to_string() };
    match (require_approval, input.requested_by) {
        (false, Some(who)) => {
            result(GATE, Outcome::Passed, format!("not required for {target}; requested by {}", person(who)), None)
        }
        (false, None) => result(GATE, Outcome::Passed, format!("not required for {target}"), None),
        (true, Some(who)) => {
            result(GATE, Outcome::Passed, format!("{} asked: /promote {app} to {target}", person(who)), None)
        }
        (true, None) => result(GATE, Outcome::Waiting, format!("waiting for /promote {app} to {target}"), None),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::SourceObservation;
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn healthy(images: &[&str], since: Option<DateTime<Utc>>) -> SourceObservation {
        SourceObservation {
            synced_images: images.iter().map(|s| s.to_string()).collect(),
            healthy: true,
            healthy_since: since,
            sync: "Synced".into(),
            message: None,
            revision: Some("abc1234".into()),
        }
    }

    fn input<'a>(images: &'a [String], source: Option<&'a SourceObservation>) -> GateInput<'a> {
        GateInput {
            app: "frontend",
            namespace: "shop",
            source_env: "dev",
            target_env: "prod",
            images,
            now: now(),
            source,
            requested_by: None,
        }
    }

    fn images(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn source_healthy_passes_at_exactly_the_images() {
        let want = images(&["ghcr.io/acme/frontend:1.2.0", "nginx:1.27"]);
        let obs = healthy(&["nginx:1.27", "ghcr.io/acme/frontend:1.2.0", "busybox:1"], None);
        let r = source_healthy(&input(&want, Some(&obs)));
        assert_eq!(r.outcome, Outcome::Passed, "{r}");
        assert_eq!(
            r.evidence,
            "frontend in dev is synced at revision abc1234 and healthy, running ghcr.io/acme/frontend:1.2.0, nginx:1.27"
        );
        assert_eq!(r.retry_at, None);
    }

    #[test]
    fn source_healthy_waits_for_the_promoted_tag() {
        let want = images(&["ghcr.io/acme/frontend:1.2.0"]);
        let obs = healthy(&["ghcr.io/acme/frontend:1.1.0"], None);
        let r = source_healthy(&input(&want, Some(&obs)));
        assert_eq!(r.outcome, Outcome::Waiting);
        assert_eq!(
            r.evidence,
            "frontend in dev does not run the promoted images yet: ghcr.io/acme/frontend:1.2.0 (runs ghcr.io/acme/frontend:1.1.0)"
        );
        let obs = healthy(&[], None);
        let r = source_healthy(&input(&want, Some(&obs)));
        assert!(r.evidence.ends_with("(runs nothing)"), "{r}");
    }

    #[test]
    fn source_healthy_waits_while_unsynced_unhealthy_or_unobserved() {
        let want = images(&["frontend:1.2.0"]);
        let r = source_healthy(&input(&want, None));
        assert_eq!((r.outcome, r.evidence.as_str()), (Outcome::Waiting, "frontend has not been observed in dev yet"));

        let mut obs = healthy(&["frontend:1.2.0"], None);
        obs.sync = "OutOfSync".into();
        obs.message = Some("2 objects differ".into());
        let r = source_healthy(&input(&want, Some(&obs)));
        assert_eq!(r.outcome, Outcome::Waiting);
        assert_eq!(r.evidence, "frontend in dev is not synced (sync status OutOfSync): 2 objects differ");

        let mut obs = healthy(&["frontend:1.2.0"], None);
        obs.healthy = false;
        obs.message = Some("Deployment/frontend: 1 of 3 replicas ready".into());
        let r = source_healthy(&input(&want, Some(&obs)));
        assert_eq!(r.evidence, "frontend in dev is not healthy: Deployment/frontend: 1 of 3 replicas ready");

        let mut obs = healthy(&["frontend:1.2.0"], None);
        obs.sync = "synced".into();
        assert_eq!(source_healthy(&input(&want, Some(&obs))).outcome, Outcome::Passed);
    }

    #[test]
    fn image_names_ignore_registry_ports_and_digests() {
        assert_eq!(image_name("ghcr.io/acme/frontend:1.2"), "ghcr.io/acme/frontend");
        assert_eq!(image_name("registry:5000/frontend"), "registry:5000/frontend");
        assert_eq!(image_name("registry:5000/frontend:1.2"), "registry:5000/frontend");
        assert_eq!(image_name("frontend@sha256:abc"), "frontend");
        assert_eq!(image_name("frontend:1.2@sha256:abc"), "frontend");
        assert_eq!(image_name("frontend"), "frontend");
    }

    #[test]
    fn soak_waits_until_healthy_since_plus_soak() {
        let want = images(&["frontend:1.2.0"]);
        let since = now() - TimeDelta::minutes(20);
        let obs = healthy(&["frontend:1.2.0"], Some(since));
        let r = soak(Duration::from_secs(3600), &input(&want, Some(&obs)));
        assert_eq!(r.outcome, Outcome::Waiting);
        assert_eq!(r.retry_at, Some(since + TimeDelta::hours(1)));
        assert_eq!(
            r.evidence,
            "frontend healthy in dev for 20m of 1h (since 2026-12-01 11:40:00 UTC); soaks until 2026-12-01 12:40:00 UTC"
        );

        let r = soak(Duration::from_secs(20 * 60), &input(&want, Some(&obs)));
        assert_eq!(r.outcome, Outcome::Passed, "exactly the soak time passes");
        assert_eq!(r.evidence, "frontend healthy in dev for 20m (since 2026-12-01 11:40:00 UTC; soak 20m)");
        assert_eq!(r.retry_at, None);
    }

    #[test]
    fn soak_edge_cases() {
        let want = images(&["frontend:1.2.0"]);
        // Not healthy: the clock has not started; nothing to schedule.
        let mut obs = healthy(&["frontend:1.2.0"], Some(now()));
        obs.healthy = false;
        let r = soak(Duration::from_secs(600), &input(&want, Some(&obs)));
        assert_eq!((r.outcome, r.retry_at), (Outcome::Waiting, None));
        assert_eq!(r.evidence, "frontend is not healthy in dev; the 10m soak has not started");
        assert_eq!(soak(Duration::from_secs(600), &input(&want, None)).outcome, Outcome::Waiting);

        // Unknown start counts from now.
        let obs = healthy(&["frontend:1.2.0"], None);
        let r = soak(Duration::from_secs(600), &input(&want, Some(&obs)));
        assert_eq!(r.retry_at, Some(now() + TimeDelta::minutes(10)));
        // A zero soak passes at once; a healthy_since in the future is clamped to now.
        assert_eq!(soak(Duration::ZERO, &input(&want, Some(&obs))).outcome, Outcome::Passed);
        let obs = healthy(&["frontend:1.2.0"], Some(now() + TimeDelta::hours(1)));
        let r = soak(Duration::from_secs(60), &input(&want, Some(&obs)));
        assert_eq!(r.retry_at, Some(now() + TimeDelta::minutes(1)));
        // An absurd soak does not overflow.
        let obs = healthy(&["frontend:1.2.0"], Some(now()));
        let r = soak(Duration::from_secs(u64::MAX), &input(&want, Some(&obs)));
        assert_eq!(r.outcome, Outcome::Waiting);
    }

    #[test]
    fn approval_needs_a_person_only_when_required() {
        let want = images(&["frontend:1.2.0"]);
        let mut inp = input(&want, None);
        let r = approval(true, &inp);
        assert_eq!((r.outcome, r.evidence.as_str()), (Outcome::Waiting, "waiting for /promote frontend to prod"));
        assert_eq!(r.retry_at, None);
        assert_eq!(approval(false, &inp).outcome, Outcome::Passed);
        assert_eq!(approval(false, &inp).evidence, "not required for prod");
        inp.requested_by = Some("octocat");
        let r = approval(true, &inp);
        assert_eq!((r.outcome, r.evidence.as_str()), (Outcome::Passed, "@octocat asked: /promote frontend to prod"));
    }
}
