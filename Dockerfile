# Herald: one image for both roles (CMD picks api or worker).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 4000
# node itself is PID 1 (no npm, no shell): `docker stop` sends SIGTERM straight to Herald, which drains and exits 0.
CMD ["node", "--max-old-space-size=192", "--max-semi-space-size=32", "dist/src/main.js", "all"]
