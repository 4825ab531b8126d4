# vigil in a container (used by grafana/compose/compose.yaml). Pools run as processes inside it.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Scripts off: `prepare` compiles the sources, which are not copied yet; onnxruntime-node ships its CPU binaries.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build
EXPOSE 8080 8081
CMD ["node", "bin/vigil.js", "start"]
