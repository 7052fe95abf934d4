# The contract as Fabric chaincode-as-a-service, and the ledger gateway, in one image.
#   docker build -t referral-ledger .
#   chaincode: python -m ledger_gw.fabric.chaincode_server (the default command)
#   gateway:   ledger-gw serve ... (see docker-compose.yml)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chaincode ./chaincode
COPY ledger_gw ./ledger_gw
COPY api ./api
RUN pip install '.[fabric]' && useradd --system --uid 10001 ledger
USER ledger

# CHAINCODE_ID (or CHAINCODE_ID_FILE), CHAINCODE_TLS_CERT, CHAINCODE_TLS_KEY and
# CHAINCODE_TLS_CLIENT_CA configure the server; the peer dials CHAINCODE_SERVER_ADDRESS.
ENV CHAINCODE_SERVER_ADDRESS=0.0.0.0:9999
EXPOSE 9999
CMD ["python", "-m", "ledger_gw.fabric.chaincode_server"]
