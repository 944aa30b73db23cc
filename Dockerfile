# syntax=docker/dockerfile:1.10
# The playground image: one static binary (every role) on distroless/static, non-root.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/OWNER/playground:TAG --push .
#   docker build -t playground:dev .          # this machine's platform only (deploy/compose.yaml)
#
# Cross-compiled, not emulated: the builder runs on the build host's own platform ($BUILDPLATFORM)
# and compiles for $TARGETPLATFORM, so the arm64 half of a multi-platform build on an amd64 runner
# (or the amd64 half on an Apple-silicon laptop) is a native rustc run, not a QEMU-emulated one.
#
# Toolchain: rustup's static musl targets (x86_64-/aarch64-unknown-linux-musl), with Debian's GCC as
# C compiler and linker driver. ring (rustls' crypto provider) compiles C and assembly, so every
# target needs a C compiler: for the host's own arch the rust image's gcc already is one
# (<arch>-linux-gnu-gcc); for the other arch Debian ships gcc-<arch>-linux-gnu and the matching
# libc6-dev-<arch>-cross headers (ring's C includes only <stdint.h>, <string.h> and the like, whose
# types and prototypes are the same under musl). Rust's musl targets bring their own libc.a and
# start files ("self-contained" linking), so the result is a static binary for distroless/static.
# Chosen over cargo-zigbuild because everything comes from rustup and Debian's archive: no second
# toolchain (zig) to download, pin and verify. The same recipe, outside Docker, built both targets
# on Debian 12 and ran them (the arm64 one under qemu-user): see deploy/IMAGE-SIZE.md.

# The toolchain the project is tested with (Cargo.toml's rust-version is only the floor).
ARG RUST_VERSION=1.95.0

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS builder
# Set by BuildKit: the platform this stage runs on, and the one the image is for.
ARG BUILDARCH
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

# The Rust target and, when cross-compiling, Debian's C cross compiler for it. The versions are
# bookworm's (its cross packages rarely change); bump them with the rust image's Debian release.
RUN set -eux; \
    case "$TARGETARCH" in \
      amd64) arch=x86_64 ;; \
      arm64) arch=aarch64 ;; \
      *) echo "unsupported TARGETARCH '$TARGETARCH' (supported: amd64, arm64)" >&2; exit 1 ;; \
    esac; \
    rustup target add "$arch-unknown-linux-musl"; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends \
        "gcc-${arch//_/-}-linux-gnu=4:12.2.0-3" \
        "libc6-dev-${TARGETARCH}-cross=2.36-8cross1"; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    echo "$arch" > /tmp/target-arch

COPY Cargo.toml Cargo.lock ./
COPY src ./src

# The registry and target dir live in cache mounts, kept between builds: the registry shared (cargo
# locks it itself), one target dir per architecture so the two halves of a multi-platform build
# run side by side. A cache mount is not part of the image, so the binary is copied out of it
# inside this same RUN.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,id=playground-target-${TARGETARCH},sharing=locked \
    set -eux; \
    arch="$(cat /tmp/target-arch)"; \
    target="$arch-unknown-linux-musl"; \
    target_env="${target//-/_}"; \
    export "CC_${target_env}=${arch}-linux-gnu-gcc" "AR_${target_env}=${arch}-linux-gnu-ar" \
           "CARGO_TARGET_${target_env^^}_LINKER=${arch}-linux-gnu-gcc"; \
    cargo build --release --locked --target "$target"; \
    install -D -m 0755 "target/$target/release/playground" /out/playground

# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot (65532), no shell. The binary
# does not even need the CA bundle (amqps:// verifies against webpki-roots compiled into it).
# Pinned by tag and by the multi-arch index digest; refresh both together, e.g. with
# `crane digest gcr.io/distroless/static-debian12:nonroot`.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab AS runtime

# Set on release builds:
#   --build-arg VERSION=$(git describe --tags) --build-arg REVISION=$(git rev-parse HEAD)
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/OWNER/playground
LABEL org.opencontainers.image.title="playground" \
      org.opencontainers.image.description="A hands-on RabbitMQ lab: one binary, every messaging role" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

COPY --from=builder /out/playground /usr/local/bin/playground

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# produce-server's HTTP port; the consumers' and subscribers' /health and /ready.
EXPOSE 3000 8080
# No CMD: the role is the first argument (`docker run IMAGE consume --prefetch 1`); without one the
# binary prints its usage and the list of roles, and exits 2.
ENTRYPOINT ["/usr/local/bin/playground"]
