# syntax=docker/dockerfile:1
#
# tidegate container image.
#
#   docker build -t tidegate .
#   docker build -t tidegate \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# Runtime contract of the image:
#   * runs as the non-root user 65532:65532 ("nonroot" in distroless);
#   * `serve` listens on 0.0.0.0:8080 (TIDEGATE_LISTEN) and keeps its state (git clones,
#     caches) in TIDEGATE_DATA_DIR=/data and nowhere else. Mount a volume at /data (in
#     Kubernetes: an emptyDir or a PVC; fsGroup 65532 makes a PVC writable);
#   * works with `readOnlyRootFilesystem: true`: tidegate writes only under /data and /tmp.
#     A read-only root makes /tmp read-only too, so mount an emptyDir at /tmp as well;
#   * one-shot commands read the repository from the working directory (/data) unless told
#     otherwise: `docker run --rm -v "$PWD:/repo:ro" tidegate plan --repo /repo --env dev`.

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------------------------
# Builder: Debian 12 (bookworm), the same release as the runtime image, so the binary needs no
# newer glibc or OpenSSL than the runtime has.
# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# libssl-dev + pkg-config: git2's `https` feature links the system OpenSSL (libssl.so.3).
# binutils: readelf for the library check below. (The rust image has all three already; listing
# them keeps the build working if the base image slims down.) Not version-pinned: this is a
# build-only stage, and bookworm's point releases drop old package versions from the mirror.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config binutils \
 && rm -rf /var/lib/apt/lists/*

# zlib: link the copy bundled with libz-sys statically. distroless/cc-debian12 has no libz.so.1
# (zlib1g is only in the debian13 flavour), so a dynamically linked zlib would not load there.
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    LIBZ_SYS_STATIC=1

WORKDIR /build

# 1. Dependencies only: dummy crates with the real manifests and lock file. This layer is reused
#    until a manifest or Cargo.lock changes. The repository is a workspace: every member's
#    Cargo.toml must be present for cargo to load it (crates/fake-kube is a test-only
#    dev-dependency, never compiled by `cargo build --release`; add new members here).
#    The dummy's own artefacts are deleted afterwards so that step 2 always recompiles the real
#    crate (COPY keeps the files' mtimes, which can be older than the dummy build, and cargo
#    would then take the dummy binary as up to date).
COPY Cargo.toml Cargo.lock ./
COPY crates/fake-kube/Cargo.toml crates/fake-kube/Cargo.toml
RUN mkdir -p src crates/fake-kube/src \
 && printf '//! placeholder\nfn main() {}\n' > src/main.rs \
 && echo '//! dependency-caching placeholder' > src/lib.rs \
 && echo '//! dependency-caching placeholder' > crates/fake-kube/src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src \
           target/release/tidegate target/release/tidegate.d \
           target/release/libtidegate.* \
           target/release/deps/tidegate-* target/release/deps/libtidegate-* \
           target/release/.fingerprint/tidegate-*

# 2. The real build (crates/ too, in case a member becomes a dependency of the binary).
COPY crates ./crates
COPY src ./src
RUN cargo build --release --locked

# 3. Check the binary against the runtime image: every shared library it needs (DT_NEEDED) must
#    be one that gcr.io/distroless/cc-debian12 ships (glibc, libgcc_s, libstdc++, OpenSSL 3).
#    A new native dependency fails the build here instead of at container start.
RUN set -eu; \
    bin=target/release/tidegate; \
    needed="$(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')"; \
    echo "tidegate needs: $needed"; \
    for lib in $needed; do \
      case "$lib" in \
        libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|librt.so.1|ld-linux-*.so.*) ;; \
        libgcc_s.so.1|libstdc++.so.6) ;; \
        libssl.so.3|libcrypto.so.3) ;; \
        *) echo "error: tidegate links $lib, which distroless/cc-debian12 does not provide" >&2; exit 1 ;; \
      esac; \
    done; \
    "$bin" --help > /dev/null; \
    install -D -m 0755 "$bin" /out/usr/local/bin/tidegate; \
    install -d -m 0750 -o 65532 -g 65532 /out/data

# ---------------------------------------------------------------------------------------------
# Runtime: gcr.io/distroless/cc-debian12:nonroot.
#
# Why this image: the binary is dynamically linked against glibc, libgcc_s and, through git2's
# https support, OpenSSL 3 (libssl.so.3 + libcrypto.so.3). distroless/cc-debian12 is built on
# distroless/base-debian12, whose packages are libc6 and libssl3, and adds libgcc-s1,
# libstdc++6 and libgomp1; it also has ca-certificates (SSL_CERT_FILE is set), tzdata, /tmp,
# and the nonroot user 65532. So every library the binary needs comes from Debian packages
# that image scanners can see, with no shell or package manager. libgit2 itself is compiled
# into the binary (libgit2-sys's vendored build; bookworm's libgit2 is too old for git2 0.21),
# and zlib is linked statically (see LIBZ_SYS_STATIC above). The readelf check in the builder
# enforces this list. (If a future dependency needs a library distroless lacks, switch to
# debian:bookworm-slim with that package, ca-certificates and a 65532 user.)
# ---------------------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="tidegate" \
      org.opencontainers.image.description="GitOps reconciler and promotion bot: kustomize-compatible rendering, sync waves, health-gated promotions" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/tidegate/tidegate" \
      org.opencontainers.image.url="https://github.com/tidegate/tidegate" \
      org.opencontainers.image.documentation="https://github.com/tidegate/tidegate/tree/main/docs" \
      org.opencontainers.image.vendor="tidegate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /out/usr/local/bin/tidegate /usr/local/bin/tidegate
# /data owned by 65532 so that `docker run` without a volume, and a fresh named volume (which
# copies the image's /data), are writable by the non-root user.
COPY --from=builder --chown=65532:65532 /out/data /data

# Environment variables override serve's config file. TIDEGATE_LISTEN pins the address to the
# exposed port on all interfaces (a loopback default would be unreachable from outside the
# container); to use another port, set TIDEGATE_LISTEN rather than `listen` in the config file.
ENV TIDEGATE_DATA_DIR=/data \
    TIDEGATE_LISTEN=0.0.0.0:8080

USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/tidegate"]
CMD ["serve"]
