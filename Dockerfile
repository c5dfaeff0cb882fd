# syntax=docker/dockerfile:1
# The fitpulse server image: the release binary on distroless (glibc, CA certificates, no
# shell), running as the non-root user 65532. Build with BuildKit, which the cache mounts need:
#   docker build -t fitpulse:0.1.0 .
# The Helm chart (helm/fitpulse) runs it with a read-only root filesystem and mounts the
# data directory, the config file and the signing keys.

# Debian 12 (bookworm) on both sides, so the binary links against the glibc it runs with.
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches survive between builds; the binary is copied out of the
# cache mount within the same step, since the mount is gone afterwards.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --package fitpulse --bin fitpulse \
    && install -D -m 0755 target/release/fitpulse /out/fitpulse \
    && install -d -m 0750 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/fitpulse /usr/local/bin/fitpulse
# The data directory must exist and belong to the runtime user: distroless has no mkdir.
COPY --from=build --chown=65532:65532 /out/data /var/lib/fitpulse
# Listen on every interface (the binary's default is loopback) and keep data in the volume.
ENV FITPULSE__HTTP__BIND=0.0.0.0:8080 \
    FITPULSE__DATA_DIR=/var/lib/fitpulse
VOLUME ["/var/lib/fitpulse"]
EXPOSE 8080
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# No HEALTHCHECK: there is no shell or curl in the image. Orchestrators probe
# GET /healthz (alive) and GET /readyz (ready: store answers, not draining) on port 8080.
ENTRYPOINT ["/usr/local/bin/fitpulse"]
CMD ["serve"]
