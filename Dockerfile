# syntax=docker/dockerfile:1
#
# ynagw container image: a static Go binary on distroless (no shell, no libc,
# runs as the distroless "nonroot" user, uid 65532).
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t ynagw .
#   docker run -d --name ynagw --network host \
#     -v /etc/ynagw/ynagw.yaml:/etc/ynagw/ynagw.yaml:ro \
#     -v /etc/ynagw/container-credentials:/run/credentials:ro \
#     -v ynagw-state:/var/lib/ynagw ynagw
#
# The configuration is the one of the systemd unit (systemd/ynagw.yaml: no secret,
# each secret ${CREDENTIALS_DIRECTORY}/<id>); CREDENTIALS_DIRECTORY is
# /run/credentials here. The image's user must read those files: make
# /etc/ynagw/container-credentials a copy of /etc/ynagw/credentials owned by it
# (install -d -o 65532 -g 65532 -m 0700 …; files 0400), or use compose/swarm secrets
# mounted there with uid 65532. *_env keys with --env-file work too.
#
# Host networking is recommended: SIP carries the container's addresses in
# Via/Contact/SDP and RTP/ICE needs wide UDP ranges, so bridge-mode NAT (and
# publishing thousands of ports) is fragile. The default ports are all >= 1024,
# so the nonroot user needs no capability; to listen below 1024 add
# --cap-add NET_BIND_SERVICE.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
# The version ynagw reports (ynagw --version, ynagw_build_info); the build context
# has no .git (.dockerignore), so without it the binary says "devel".
ARG VERSION
WORKDIR /src
# Dependencies first, so source edits do not re-download modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO_ENABLED=0: the SQLite store uses the pure-Go modernc.org/sqlite driver.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ynagw ./cmd/ynagw
# Distroless has no shell: prepare the state directory here with the right owner.
RUN mkdir -p /out/var/lib/ynagw /out/etc/ynagw /out/run/credentials

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ynagw /ynagw
COPY --from=build --chown=65532:65532 /out/var/lib/ynagw /var/lib/ynagw
COPY --from=build /out/etc/ynagw /etc/ynagw
COPY --from=build /out/run/credentials /run/credentials
ENV CREDENTIALS_DIRECTORY=/run/credentials
USER 65532:65532
WORKDIR /var/lib/ynagw

# The ports of the configuration defaults (config/defaults.go) and of the example
# configuration; publish them only in bridge mode.
# SIP: UDP and TCP on 5060, TLS on 5061.
EXPOSE 5060/udp 5060/tcp 5061/tcp
# SIP-side RTP: rtp.port_min-port_max, default 10000-20000.
EXPOSE 10000-20000/udp
# WebRTC (ICE) toward T-Mobile: ephemeral ports unless webrtc.udp_port_min/max (or
# udp_mux_port) is set; in bridge mode set the range of configs/ynagw.yaml, 30000-31000.
EXPOSE 30000-31000/udp
# Admin HTTP: /healthz, /readyz, /metrics, line linking. The default admin.listen is
# 127.0.0.1:8080 (inside the container); set 0.0.0.0:8080 with credentials to reach it.
EXPOSE 8080/tcp

# SQLite database (lines, tokens encrypted at rest, CDRs).
VOLUME /var/lib/ynagw

# `ynagw health` GETs the admin /healthz (address from admin.listen of the
# configuration); no shell or curl needed: unhealthy when the process no longer answers.
# Not /readyz (`ynagw health -ready`): a first start has no line linked yet, and an
# unhealthy container may be restarted or cut off from its admin page, where the line
# is linked. Watch readiness with the alerts (configs/alerts.yaml) or -ready elsewhere.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["/ynagw", "health"]

# SIGTERM drains active calls; give `docker stop -t 90` for a full drain.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/ynagw", "run", "-config", "/etc/ynagw/ynagw.yaml"]
