"""Certificates and kubeconfig for the sandbox API server.

A fresh CA is generated at every ``up`` with the ``cryptography`` package; the server
certificate is valid for 127.0.0.1 and localhost. Clients trust the CA through the kubeconfig.
"""
import base64
import datetime
import ipaddress
import os

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path, data, private=False):
    with open(path, "wb") as handle:
        handle.write(data)
    if private:
        os.chmod(path, 0o600)


def generate(state_dir, hosts=("127.0.0.1", "localhost")):
    """Write ca.crt, server.crt and server.key into ``state_dir``; return their paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("sandbox-ca"))
        .issuer_name(_name("sandbox-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("sandbox-apiserver"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca": os.path.join(state_dir, "ca.crt"),
        "cert": os.path.join(state_dir, "server.crt"),
        "key": os.path.join(state_dir, "server.key"),
    }
    _write(paths["ca"], ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(paths["cert"], server_cert.public_bytes(serialization.Encoding.PEM))
    _write(
        paths["key"],
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    return paths


def write_kubeconfig(path, api_url, ca_path, users):
    """Write a kubeconfig with context ``sandbox`` (admin token) and ``sandbox-readonly``.

    ``users`` maps user name -> bearer token; the first one is the default context's user.
    """
    with open(ca_path, "rb") as handle:
        ca_data = base64.b64encode(handle.read()).decode()
    names = list(users)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "sandbox", "cluster": {"server": api_url, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": name, "user": {"token": token}} for name, token in users.items()],
        "contexts": [
            {
                "name": "sandbox" if index == 0 else "sandbox-%s" % name.split("-")[-1],
                "context": {"cluster": "sandbox", "user": name, "namespace": "default"},
            }
            for index, name in enumerate(names)
        ],
        "current-context": "sandbox",
        "preferences": {},
    }
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle, default_flow_style=False)
    os.chmod(path, 0o600)
