# Phoenix Operator image: build phoenix-controller on Debian bookworm, run it on bookworm-slim
# with only the shared libraries it links, as a non-root user.
#   docker build -t phoenix-operator:0.1.0 .
# Runtime packages must match what CMakeLists.txt links the kube library against: libcurl,
# libyaml, cJSON, OpenSSL, libmicrohttpd, zlib (plus CA certificates for TLS to the API server).

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libcurl4-openssl-dev libyaml-dev libcjson-dev libssl-dev libmicrohttpd-dev \
      libcmocka-dev uthash-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore keeps the context to sources. CMakeLists.txt configures every target (so
# cmocka is needed at configure time) but only the operator is built.
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target phoenix-controller phoenix-build -j"$(nproc)" \
 && strip build/bin/phoenix-controller build/bin/phoenix-build

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcurl4 libyaml-0-2 libcjson1 libssl3 libmicrohttpd12 zlib1g ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/phoenix-controller /usr/local/bin/phoenix-controller
# The Build step program (docs/build-steps.md): a Build's Job runs this image with command
# phoenix-build; its fetch step needs git.
COPY --from=build /src/build/bin/phoenix-build /usr/local/bin/phoenix-build
# The built-in generator (phoenix-build generate) writes a Python service (standard library
# only) whose tests the test step runs here with `make test`: python3 and make.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make \
 && rm -rf /var/lib/apt/lists/*
# 65532 is the conventional "nonroot" uid; the chart runs with runAsNonRoot and a read-only root.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/phoenix-controller"]
