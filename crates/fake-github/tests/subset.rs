//! The committed OpenAPI subset is what `scripts/vendor-github-openapi.sh` makes from the
//! installed `@octokit/openapi` package: a drift between them fails here.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn committed_subset_matches_the_npm_package() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let source = root.join("tests/fixtures/npm/node_modules/@octokit/openapi/generated/api.github.com.json");
    assert!(
        source.exists(),
        "{} is missing: run scripts/test-deps.sh (it installs the @octokit/openapi npm package)",
        source.display()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("subset.json");
    let status = Command::new("bash")
        .arg(root.join("scripts/vendor-github-openapi.sh"))
        .arg(&out)
        .status()
        .expect("run scripts/vendor-github-openapi.sh (needs node)");
    assert!(status.success(), "scripts/vendor-github-openapi.sh failed");
    let fresh = std::fs::read_to_string(&out).expect("regenerated subset");
    let committed =
        std::fs::read_to_string(root.join("crates/fake-github/openapi/subset.json")).expect("committed subset");
    assert!(
        fresh == committed,
        "crates/fake-github/openapi/subset.json is stale: run scripts/vendor-github-openapi.sh and commit the result"
    );
}
