# syntax=docker/dockerfile:1
# apigw-compliance: the operator and CLI in one minimal, non-root image.
#
#   docker build -t apigw-compliance:0.1.0 .
#
# Stage 1 builds the release binary with exactly the command scripts/test runs in its
# packaging step (`cargo build --release --locked --bin apigw-compliance`), so the
# build is proven on every test run even where no container engine runs. Stage 2 is
# distroless: glibc and libgcc only (the binary links them dynamically; TLS is rustls
# on aws-lc, built in), no shell, no package manager, user 65532 (nonroot).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# The manifest and lockfile first: `--locked` refuses a build whose Cargo.lock is stale.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Cache mounts keep the crate registry and compiled dependencies between builds; the
# binary is copied out of the cached target directory into the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin apigw-compliance \
    && install -D -m 0755 target/release/apigw-compliance /out/apigw-compliance \
    && /out/apigw-compliance --version

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="apigw-compliance" \
      org.opencontainers.image.description="Kubernetes operator and CLI that keeps AWS API Gateway stages compliant with the Security Hub API Gateway controls" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/apigw-compliance /usr/local/bin/apigw-compliance
# 65532 is distroless's `nonroot`; numeric so runAsNonRoot can verify it.
USER 65532:65532
# /healthz, /readyz, /metrics
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/apigw-compliance"]
CMD ["run"]
