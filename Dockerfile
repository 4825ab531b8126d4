# vigil in a container (used by grafana/compose/compose.yaml). Pools run as processes inside it.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Scripts off: `prepare` compiles the sources, which are not copied yet; onnxruntime-node ships its CPU binaries.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build
EXPOSE 8080 8081
# The V8 heap flags are those of `npm start` (see README, Performance): they keep the peak RSS down.
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=100", "bin/vigil.js", "start"]
