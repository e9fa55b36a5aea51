# One image for the gateway and the three services; compose picks the entry point.
# Node 24 runs the TypeScript sources directly (type stripping): no build step.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY gen ./gen
COPY services ./services
COPY cli ./cli
USER node
EXPOSE 8080 8081 8082 8083
CMD ["node", "services/webhook-gateway/main.ts"]
