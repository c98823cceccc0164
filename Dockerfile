# syntax=docker/dockerfile:1
#
# ynagw container image: a static Go binary on distroless (no shell, no libc,
# runs as the distroless "nonroot" user, uid 65532).
#
#   docker build -t ynagw .
#   docker run -d --name ynagw --network host \
#     -v /etc/ynagw:/etc/ynagw:ro -v ynagw-state:/var/lib/ynagw \
#     --env-file /etc/ynagw/env ynagw
#
# Host networking is recommended: SIP carries the container's addresses in
# Via/Contact/SDP and RTP/ICE needs a wide UDP range, so bridge-mode NAT (and
# publishing thousands of ports) is fragile. The default ports (5060, 5061,
# 8080, RTP range) are all >= 1024, so the nonroot user needs no capability;
# to listen below 1024 add --cap-add NET_BIND_SERVICE.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so source edits do not re-download modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO_ENABLED=0: the SQLite store uses the pure-Go modernc.org/sqlite driver.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ynagw ./cmd/ynagw
# Distroless has no shell: prepare the state directory here with the right owner.
RUN mkdir -p /out/var/lib/ynagw /out/etc/ynagw

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ynagw /ynagw
COPY --from=build --chown=65532:65532 /out/var/lib/ynagw /var/lib/ynagw
COPY --from=build /out/etc/ynagw /etc/ynagw
USER 65532:65532
WORKDIR /var/lib/ynagw

# SIP: UDP and TCP on 5060, TLS on 5061.
EXPOSE 5060/udp 5060/tcp 5061/tcp
# RTP/ICE media range (must match the rtp port range in ynagw.yaml). Publishing
# a range this size through docker-proxy is slow; prefer --network host.
EXPOSE 10000-10999/udp
# Admin HTTP: /healthz, /metrics, line linking.
EXPOSE 8080/tcp

# SQLite database (lines, tokens encrypted at rest, CDRs).
VOLUME /var/lib/ynagw

# SIGTERM drains active calls; give `docker stop -t 90` for a full drain.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/ynagw", "run", "-config", "/etc/ynagw/ynagw.yaml"]
