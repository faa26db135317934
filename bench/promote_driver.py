#!/usr/bin/env python3
"""Driver of bench/promote.sh: sends the webhooks, commits the tags, polls the fakes, times and
counts. Not meant to be run by hand: promote.sh starts the processes and passes their URLs in the
environment (see the bottom of this file). Writes bench/out/promote-results.json and
bench/out/promote-results.md, and the fake GitHub's request log of every measured step to
bench/out/promote-steps.json.

Clocks: the webhook send time is taken with time.time() just before the request is written; the
fake GitHub records each request's arrival with SystemTime (the same system clock, µs). "Observed"
times are when this driver's tight poll (every ~2 ms) of the fake's control endpoint first saw
the request answered, so they include the poll interval and the fake's own serving time.
"""

import hashlib
import hmac
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid

E = os.environ
OUT = E["OUT"]
PREFIX = E.get("PREFIX", "promote")
RUNS = int(E["RUNS"])
SECRET = E["SECRET"].encode()
TOKEN = E["TOKEN"]
REPO = E["GH_REPO"]  # owner/name
OWNER = REPO.split("/")[0]
TG = urllib.parse.urlparse(E["TG_URL"])
GH = urllib.parse.urlparse(E["GH_URL"])
CTL = urllib.parse.urlparse(E["CTL_URL"])
KUBE = urllib.parse.urlparse(E["KUBE_URL"])
WORKTREE = E["WORKTREE"]
USER = E["PROMOTER"]
DISCUSSION_BRANCH = E["DISCUSSION_BRANCH"]
TIMEOUT = float(E.get("STEP_TIMEOUT", "30"))
TG_PID = int(E["TG_PID"])
RP = f"/repos/{REPO}"

# Persistent connections: the driver's own requests should cost as little as possible.
_conns = {}


def request(url, method, path, body=None, headers=None):
    key = (url.hostname, url.port)
    for attempt in range(2):
        conn = _conns.get(key)
        if conn is None:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            _conns[key] = conn
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, data
        except (http.client.HTTPException, OSError):
            conn.close()
            _conns.pop(key, None)
            if attempt:
                raise
    raise RuntimeError("unreachable")


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def alive():
    try:
        os.kill(TG_PID, 0)
    except OSError:
        die("tidegate serve exited (see bench/out/promote-serve.err)")


def gh(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Authorization": f"token {TOKEN}", "Accept": "application/vnd.github+json", "User-Agent": "promote-bench"}
    if data is not None:
        h["Content-Type"] = "application/json"
    status, out = request(GH, method, path, data, h)
    return status, (json.loads(out) if out.strip() else None)


def ctl_requests(since):
    status, out = request(CTL, "GET", f"/_fake/requests?since={since}")
    if status != 200:
        die(f"fake-github control endpoint answered {status}")
    return json.loads(out)


def ctl_last_seq():
    status, out = request(CTL, "GET", "/_fake/stats")
    return json.loads(out)["last_seq"]


def ctl_stats():
    return json.loads(request(CTL, "GET", "/_fake/stats")[1])


def tg_status():
    return json.loads(request(TG, "GET", "/api/v1/status")[1])


def tg_metric(name, **labels):
    text = request(TG, "GET", "/metrics")[1].decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric = head.split("{")[0]
        if metric != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def sign(body):
    return "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()


def webhook(event, payload):
    """Sends a signed delivery; returns (send time, answer time, status)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body),
        "User-Agent": "GitHub-Hookshot/bench",
    }
    t0 = time.time()
    status, _ = request(TG, "POST", "/webhooks/github", body, headers)
    t1 = time.time()
    if status not in (200, 202):
        die(f"the {event} delivery was answered {status}")
    return t0, t1, status


def kube_marker(tag):
    request(KUBE, "GET", f"/bench-marker/{tag}")


def kube_requests():
    return json.loads(request(KUBE, "GET", "/_fake/requests")[1])


REPO_JSON = {"id": 1, "name": REPO.split("/")[1], "full_name": REPO, "owner": {"login": OWNER, "type": "Organization"}}


def push_payload(after, before="0" * 40):
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "repository": REPO_JSON,
        "pusher": {"name": "ci-bot"},
        "sender": {"login": "ci-bot", "type": "User"},
    }


def comment_payload(issue, comment_id, body):
    return {
        "action": "created",
        "issue": {
            "number": issue,
            "title": "Release notes",
            "state": "open",
            "user": {"login": USER, "type": "User"},
            "pull_request": {"url": f"https://api.github.com{RP}/pulls/{issue}"},
        },
        "comment": {"id": comment_id, "body": body, "user": {"login": USER, "type": "User"}, "author_association": "MEMBER"},
        "repository": REPO_JSON,
        "sender": {"login": USER, "type": "User"},
    }


def pr_closed_payload(number, head_ref, merged):
    return {
        "action": "closed",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "closed",
            "merged": merged,
            "base": {"ref": "main"},
            "head": {"ref": head_ref},
        },
        "repository": REPO_JSON,
        "sender": {"login": USER, "type": "User"},
    }


def git(*args):
    return subprocess.run(
        ["git", "-C", WORKTREE, "-c", "user.name=ci", "-c", "user.email=ci@example.com", "-c", "commit.gpgsign=false", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def set_dev_tag(app, tag):
    """CI's step: pull, pin the tag in dev, commit, push to the repository the fakes share."""
    git("pull", "-q", "--ff-only", "origin", "main")
    path = os.path.join(WORKTREE, "overlays", "dev", app, "kustomization.yaml")
    with open(path) as f:
        lines = f.read().splitlines()
    lines = [f'  newTag: "{tag}"' if line.strip().startswith("newTag:") else line for line in lines]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    git("commit", "-qam", f"ci: {app} {tag} to dev")
    git("push", "-q", "origin", "HEAD:main")
    return git("rev-parse", "HEAD")


def wait_until(what, pred, timeout=TIMEOUT, every=0.02):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        alive()
        if time.time() > deadline:
            die(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def dev_is(app, tag, commit):
    st = tg_status()
    if st.get("source", {}).get("commit") != commit:
        return False
    for a in st.get("apps", []):
        if a["name"] == app:
            e = a["environments"].get("dev") or {}
            return (
                f"example/{app}:{tag}" in e.get("images", [])
                and e.get("sync") == "Synced"
                and e.get("health") == "Healthy"
            )
    return False


def quiet(period=0.6):
    """Waits until the fake GitHub has received nothing for `period` seconds; the last seq."""
    last = ctl_last_seq()
    since = time.time()
    while time.time() - since < period:
        time.sleep(0.05)
        now = ctl_last_seq()
        if now != last:
            last, since = now, time.time()
        alive()
    return last


def classify(r, promo_branch):
    """(group, endpoint) of one request the bot made."""
    m, p, op = r["method"], r["path"], r.get("operation") or "?"
    if op == "reactions/create-for-issue-comment":
        return "chatops", "POST reaction"
    if op == "repos/get-collaborator-permission-level":
        return "chatops", "GET permission"
    if op == "issues/create-comment":
        return "chatops", "POST comment (reply)"
    names = {
        "git/create-ref": "POST git/refs",
        "git/get-ref": "GET git/ref",
        "git/update-ref": "PATCH git/refs",
        "git/create-tree": "POST git/trees",
        "git/create-commit": "POST git/commits",
        "git/get-commit": "GET git/commits",
        "repos/get-content": "GET contents",
        "repos/create-or-update-file-contents": "PUT contents",
        "pulls/list": "GET pulls",
        "pulls/create": "POST pulls",
        "pulls/update": "PATCH pulls",
        "issues/add-labels": "POST labels",
        "repos/create-commit-status": "POST statuses",
    }
    return "promotion", names.get(op, f"{m} {p}")


def summarize(reqs, promo_branch):
    calls = []
    for r in reqs:
        group, endpoint = classify(r, promo_branch)
        write = r["method"] in ("POST", "PUT", "PATCH", "DELETE")
        calls.append({"group": group, "endpoint": endpoint, "write": write, "status": r["status"], "seq": r["seq"]})
    promo = [c for c in calls if c["group"] == "promotion"]
    chat = [c for c in calls if c["group"] == "chatops"]
    return {
        "calls": calls,
        "promotion_reads": sum(1 for c in promo if not c["write"]),
        "promotion_writes": sum(1 for c in promo if c["write"]),
        "chatops_reads": sum(1 for c in chat if not c["write"]),
        "chatops_writes": sum(1 for c in chat if c["write"]),
        "total": len(calls),
        "failed": [f'{c["endpoint"]} {c["status"]}' for c in calls if not 200 <= c["status"] < 300],
    }


def watch(since, t0, done, timeout=TIMEOUT):
    """Polls the fake's log (tight loop) until done(requests) names a request; returns
    (observed time, requests so far)."""
    deadline = time.time() + timeout
    while True:
        reqs = ctl_requests(since)
        hit = done(reqs)
        if hit:
            return time.time(), reqs
        if time.time() > deadline:
            die(f"timed out after {timeout:.0f} s; the fake received: " + ", ".join(f'{r["method"]} {r["path"]} {r["status"]}' for r in reqs))
        alive()
        time.sleep(0.002)


def find(reqs, op, path_part=""):
    for r in reqs:
        if r.get("operation") == op and path_part in r["path"] and r["status"] != 0:
            return r
    return None


def after_quiet(since):
    quiet(0.6)
    return ctl_requests(since)


def ms(t):
    return round(t * 1000.0, 1)


STEPS = []


def record(step):
    STEPS.append(step)
    extra = ""
    if step.get("to_pr_ms") is not None:
        extra = f" → PR {step['to_pr_ms']} ms"
    if step.get("to_reply_ms") is not None:
        extra += f", reply {step['to_reply_ms']} ms"
    c = step["calls"]
    print(
        f"  {step['path']:8} {step['case']:9} run {step['run']}:{extra}; calls: promotion {c['promotion_reads']}r+{c['promotion_writes']}w, "
        f"chatops {c['chatops_reads']}r+{c['chatops_writes']}w" + (f"; non-2xx: {', '.join(c['failed'])}" if c["failed"] else ""),
        file=sys.stderr,
    )


def merge_and_forget(number, branch):
    """A reviewer merges the promotion PR; GitHub deletes the branch and sends the webhook."""
    status, v = gh("PUT", f"{RP}/pulls/{number}/merge", {"merge_method": "squash"})
    if status != 200:
        die(f"merging #{number} answered {status}: {v}")
    status, _ = gh("DELETE", f"{RP}/git/refs/heads/{branch}")
    if status != 204:
        die(f"deleting {branch} answered {status}")
    merged = v["sha"]
    webhook("pull_request", pr_closed_payload(number, branch, True))
    # The merge into main wakes the control loop: wait until it has reconciled the merge commit.
    wait_until("the merge commit to be synced", lambda: tg_status().get("source", {}).get("commit") == merged)
    wait_until(
        "dev Synced at the merge commit",
        lambda: (lambda s: s["environments"].get("dev", {}).get("revision") == merged and s["environments"]["dev"].get("state") == "Synced")(tg_status()),
    )
    quiet()


# --- set-up: the discussion pull request the /promote comments are written on -------------------
def main():
    status, pr = gh("POST", f"{RP}/pulls", {"title": "Release notes", "head": DISCUSSION_BRANCH, "base": "main", "body": "Talk here."})
    if status != 201:
        die(f"opening the discussion pull request answered {status}: {pr}")
    discussion = pr["number"]
    quiet()

    # ---- 1. /promote web to qa (manual policy) --------------------------------------------------
    print(f"== /promote web to qa, {RUNS} runs (fresh, update, unchanged each)", file=sys.stderr)
    web_branch = "tidegate/promote/web/qa"
    for i in range(1, RUNS + 1):
        for case, tag in (("fresh", f"1.{i}.0"), ("update", f"1.{i}.1"), ("unchanged", None)):
            if tag:
                commit = set_dev_tag("web", tag)
                webhook("push", push_payload(commit))
                wait_until(f"web {tag} healthy in dev", lambda: dev_is("web", tag, commit))
            quiet()
            status, c = gh("POST", f"{RP}/issues/{discussion}/comments", {"body": "/promote web to qa"})
            if status != 201:
                die(f"creating the comment answered {status}")
            s0 = quiet(0.2)
            t0, t_ack, _ = webhook("issue_comment", comment_payload(discussion, c["id"], "/promote web to qa"))
            key_op, key_path = {
                "fresh": ("pulls/create", "/pulls"),
                "update": ("git/update-ref", web_branch),
                "unchanged": (None, None),
            }[case]
            t_pr = None
            if key_op:
                t_pr, reqs = watch(s0, t0, lambda rs: find(rs, key_op, key_path))
            t_reply, reqs = watch(s0, t0, lambda rs: find(rs, "issues/create-comment", f"/issues/{discussion}/comments"))
            reqs = after_quiet(s0)
            reply = find(reqs, "issues/create-comment")
            first = reqs[0] if reqs else None
            key = find(reqs, key_op, key_path) if key_op else None
            step = {
                "path": "/promote",
                "case": case,
                "run": i,
                "tag": tag,
                "webhook_answer_ms": ms(t_ack - t0),
                "to_first_call_ms": ms(first["unix_micros"] / 1e6 - t0) if first else None,
                "to_pr_arrival_ms": ms(key["unix_micros"] / 1e6 - t0) if key else None,
                "to_pr_ms": ms(t_pr - t0) if t_pr else None,
                "to_reply_arrival_ms": ms(reply["unix_micros"] / 1e6 - t0),
                "to_reply_ms": ms(t_reply - t0),
                "calls": summarize(reqs, web_branch),
                "requests": reqs,
            }
            record(step)
        # A reviewer merges it: the next run is a fresh promotion again.
        status, pulls = gh("GET", f"{RP}/pulls?state=open&head={OWNER}:{web_branch}")
        if not pulls:
            die("no open promotion pull request for web")
        merge_and_forget(pulls[0]["number"], web_branch)

    # ---- 2. push → PR (api, auto, soak 0) --------------------------------------------------------
    print(f"== push (api healthy in dev at a new tag) → PR, {RUNS} runs (fresh, update, unchanged each)", file=sys.stderr)
    api_branch = "tidegate/promote/api/qa"
    reconciles = lambda: tg_metric("tidegate_reconcile_duration_seconds_count", env="dev")
    for i in range(1, RUNS + 1):
        commit = None
        for case, tag in (("fresh", f"2.{i}.0"), ("update", f"2.{i}.1"), ("unchanged", None)):
            if tag:
                commit = set_dev_tag("api", tag)
            s0 = quiet()
            n0 = reconciles()
            kube_marker(f"{i}-{case}")
            t0, t_ack, _ = webhook("push", push_payload(commit))
            key_op, key_path = {
                "fresh": ("pulls/create", "/pulls"),
                "update": ("git/update-ref", api_branch),
                "unchanged": (None, None),
            }[case]
            t_pr = None
            if key_op:
                t_pr, reqs = watch(s0, t0, lambda rs: find(rs, key_op, key_path))
            else:
                wait_until("the re-sent push's reconcile", lambda: reconciles() > n0)
            reqs = after_quiet(s0)
            key = find(reqs, key_op, key_path) if key_op else None
            # fake-kube's clock: from the marker sent just before the webhook.
            kr = kube_requests()
            marker = [r for r in kr if r["path"] == f"/bench-marker/{i}-{case}"]
            apply_ms = inv_ms = None
            if marker:
                m0 = marker[-1]["micros"]
                later = [r for r in kr if r["micros"] >= m0 and "/leases" not in r["path"] and not r["path"].startswith("/bench-marker")]
                applies = [r for r in later if r["method"] == "PATCH" and r["path"].endswith("/deployments/api") and not r.get("dry_run")]
                inv = [r for r in later if r["method"] in ("PATCH", "PUT", "POST") and "configmaps" in r["path"] and not r.get("dry_run")]
                apply_ms = round((applies[0]["micros"] - m0) / 1000.0, 1) if applies else None
                inv_ms = round((inv[-1]["micros"] - m0) / 1000.0, 1) if inv else None
            first = reqs[0] if reqs else None
            step = {
                "path": "push",
                "case": case,
                "run": i,
                "tag": tag,
                "webhook_answer_ms": ms(t_ack - t0),
                "to_apply_ms": apply_ms,
                "to_reconciled_ms": inv_ms,
                "to_first_call_ms": ms(first["unix_micros"] / 1e6 - t0) if first else None,
                "to_pr_arrival_ms": ms(key["unix_micros"] / 1e6 - t0) if key else None,
                "to_pr_ms": ms(t_pr - t0) if t_pr else None,
                "calls": summarize(reqs, api_branch),
                "requests": reqs,
            }
            record(step)
        status, pulls = gh("GET", f"{RP}/pulls?state=open&head={OWNER}:{api_branch}")
        if not pulls:
            die("no open promotion pull request for api")
        merge_and_forget(pulls[0]["number"], api_branch)

    stats = ctl_stats()
    result = {
        "runs": RUNS,
        "steps": [{k: v for k, v in s.items() if k != "requests"} for s in STEPS],
        "violations": stats["violations"],
        "response_violations": stats["response_violations"],
        "github_requests_metric": tg_metric("tidegate_github_requests_total") or tg_metric("tidegate_github_requests"),
    }
    with open(os.path.join(OUT, f"{PREFIX}-results.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(OUT, f"{PREFIX}-steps.json"), "w") as f:
        json.dump(STEPS, f, indent=1)
    md = report(result)
    with open(os.path.join(OUT, f"{PREFIX}-results.md"), "w") as f:
        f.write(md)
    print(md)
    ok = not result["violations"] and all(
        s["to_pr_ms"] is None or s["to_pr_ms"] < TARGET_MS for s in result["steps"]
    ) and all(
        s["calls"]["promotion_reads"] + s["calls"]["promotion_writes"] <= TARGET_CALLS
        for s in result["steps"] if s["case"] == "fresh"
    )
    sys.exit(0 if ok else 3)


TARGET_MS = 2000.0
TARGET_CALLS = 6


def mmm(values):
    v = [x for x in values if x is not None]
    if not v:
        return "–", "–", "–"
    return f"{min(v):.1f}", f"{statistics.median(v):.1f}", f"{max(v):.1f}"


def report(result):
    steps = result["steps"]
    lines = []
    lines.append(f"Runs: {result['runs']} per case. Times in ms from sending the webhook (tidegate's answer to it: "
                 + "{}–{} ms).".format(*[f"{x:.1f}" for x in (min(s['webhook_answer_ms'] for s in steps), max(s['webhook_answer_ms'] for s in steps))]))
    lines.append("")
    lines.append("| path | case | measured from the webhook to | min | median | max | target | median / target |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|")
    rows = [
        ("/promote", "fresh", [("first API call (the reaction)", "to_first_call_ms"), ("**PR opened** (POST pulls answered, polled)", "to_pr_ms"), ("reply comment answered (polled)", "to_reply_ms")]),
        ("/promote", "update", [("first API call (the reaction)", "to_first_call_ms"), ("**PR updated** (PATCH git/refs answered, polled)", "to_pr_ms"), ("reply comment answered (polled)", "to_reply_ms")]),
        ("/promote", "unchanged", [("reply comment answered (polled)", "to_reply_ms")]),
        ("push", "fresh", [("first apply (fake-kube)", "to_apply_ms"), ("reconcile done (inventory written)", "to_reconciled_ms"), ("first GitHub call", "to_first_call_ms"), ("**PR opened** (POST pulls answered, polled)", "to_pr_ms")]),
        ("push", "update", [("first apply (fake-kube)", "to_apply_ms"), ("reconcile done (inventory written)", "to_reconciled_ms"), ("first GitHub call", "to_first_call_ms"), ("**PR updated** (PATCH git/refs answered, polled)", "to_pr_ms")]),
    ]
    for path, case, fields in rows:
        sel = [s for s in steps if s["path"] == path and s["case"] == case]
        for label, key in fields:
            lo, med, hi = mmm(s.get(key) for s in sel)
            target = ratio = ""
            if key == "to_pr_ms":
                target = "2,000"
                ratio = f"{float(med) / TARGET_MS:.3f}" if med != "–" else ""
            lines.append(f"| {path} | {case} | {label} | {lo} | {med} | {hi} | {target} | {ratio} |")
    lines.append("")
    lines.append("GitHub API requests per promotion (as the fake received them; r = read, w = write):")
    lines.append("")
    lines.append("| path | case | promotion calls (r + w) | /promote overhead (r + w) | total | endpoints (every run identical?) | non-2xx |")
    lines.append("|---|---|---:|---:|---:|---|---|")
    for path in ("/promote", "push"):
        for case in ("fresh", "update", "unchanged"):
            sel = [s for s in steps if s["path"] == path and s["case"] == case]
            if not sel:
                continue
            def seq(s):
                return [c["endpoint"] for c in s["calls"]["calls"]]
            same = all(seq(s) == seq(sel[0]) for s in sel)
            counts = {}
            for e in seq(sel[0]):
                counts[e] = counts.get(e, 0) + 1
            eps = ", ".join(f"{e}" + (f" ×{n}" if n > 1 else "") for e, n in counts.items()) or "none"
            pr_calls = sorted({s["calls"]["promotion_reads"] + s["calls"]["promotion_writes"] for s in sel})
            c0 = sel[0]["calls"]
            failed = sorted({f for s in sel for f in s["calls"]["failed"]})
            lines.append(
                f"| {path} | {case} | {'–'.join(map(str, [pr_calls[0], pr_calls[-1]] if len(pr_calls) > 1 else pr_calls))} "
                f"({c0['promotion_reads']} + {c0['promotion_writes']}) | {c0['chatops_reads']} + {c0['chatops_writes']} | {c0['total']} | "
                f"{eps} ({'yes' if same else 'no: see promote-results.json'}) | {', '.join(failed) or 'none'} |"
            )
    fresh = [s for s in steps if s["case"] == "fresh"]
    worst = max(s["calls"]["promotion_reads"] + s["calls"]["promotion_writes"] for s in fresh)
    lines.append("")
    lines.append(f"Fresh promotion: at most {worst} promotion calls (target ≤ {TARGET_CALLS}; ratio {worst / TARGET_CALLS:.2f}). "
                 f"Requests that broke GitHub's OpenAPI description: {len(result['violations'])}.")
    for v in result["violations"]:
        lines.append(f"- violation: {v}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
