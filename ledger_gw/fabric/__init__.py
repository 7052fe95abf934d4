"""Hyperledger Fabric backend: Gateway client, chaincode-as-a-service shim, block evidence.

Everything here speaks Fabric's own protocol buffers (`hyperledger-fabric-protos`) over
grpcio; install with the `fabric` extra. Nothing in the rest of the library imports this
package unless the Fabric backend is chosen.
"""
