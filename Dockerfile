# Build stage: a release binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/ticketbooth

# Run stage: a small Debian image, non-root. CA certificates for https object stores.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home /data ticketbooth && mkdir -p /data && chown ticketbooth /data
COPY --from=build /src/target/release/ticketbooth /usr/local/bin/ticketbooth
USER ticketbooth
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["ticketbooth"]
CMD ["serve"]
