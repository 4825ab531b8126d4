# vigil in a container (used by grafana/compose/compose.yaml). Pools run as processes inside it.
FROM node:20-bookworm-slim
WORKDIR /app
# bubblewrap sandboxes the pool workers where the container may make user namespaces; where it
# may not (Docker's default seccomp profile), vigil says so and runs them as plain processes.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
# Scripts off: `prepare` compiles the sources, which are not copied yet; onnxruntime-node ships its CPU binaries.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build
EXPOSE 8080 8081
# The V8 heap flags are those of `npm start` (see README, Performance): they keep the peak RSS down.
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=100", "bin/vigil.js", "start"]
