"""``zabbix:`` of the configuration: the server (its keys declared in node_config.ZabbixConfig) and TLS."""

from __future__ import annotations

from . import fields
from .fields import Problems, is_int, is_number
from .node_config import ZabbixConfig, ZabbixTls

_TLS_KEYS = ("ca_file", "cert_file", "key_file", "psk_identity", "psk")
_CERTIFICATE = {"ca_file", "cert_file", "key_file"}


def parse_zabbix(raw: object, problems: Problems) -> ZabbixConfig | None:
    message = "must be a mapping such as {server: zabbix.example.com}"
    raw = None if raw is None else fields.section(ZabbixConfig, raw, "configuration", "zabbix", problems, message)
    if raw is None:
        return None
    server = raw.get("server")
    if not isinstance(server, str) or not server.strip() or "/" in server:
        problems.add("configuration", "zabbix.server", "required: the host name or address of a Zabbix server or proxy")
    values = fields.read(ZabbixConfig, raw, "configuration", "zabbix.", problems)
    tls = _parse_tls(raw.get("tls"), problems)
    if not isinstance(server, str) or not is_int(raw.get("port", 0)) or not is_number(raw.get("timeout_s", 0)):
        return None
    return ZabbixConfig(server=server.strip(), tls=tls, **values)


def _parse_tls(raw: object, problems: Problems) -> ZabbixTls | None:
    message = "must be a mapping: {ca_file, cert_file, key_file} or a PSK"
    raw = None if raw is None else fields.section(ZabbixTls, raw, "configuration", "zabbix.tls", problems, message)
    if raw is None:
        return None
    values: dict[str, str] = {}
    for key in sorted(set(_TLS_KEYS) & set(raw)):
        value = raw[key]
        if not isinstance(value, str) or not value:
            problems.add("configuration", f"zabbix.tls.{key}", "must be a non-empty string")
        else:
            values[key] = value
    certificate = _CERTIFICATE & set(values)
    psk = {"psk_identity", "psk"} & set(values)
    if certificate and psk:
        problems.add("configuration", "zabbix.tls", "either certificates (ca_file, cert_file, key_file) or a PSK")
    elif certificate and certificate != _CERTIFICATE:
        missing = ", ".join(sorted(_CERTIFICATE - certificate))
        problems.add("configuration", "zabbix.tls", f"certificates need all three files; missing {missing}")
    elif psk and psk != {"psk_identity", "psk"}:
        problems.add("configuration", "zabbix.tls", "PSK needs both psk_identity and psk")
    elif not certificate and not psk:
        problems.add("configuration", "zabbix.tls", "give ca_file, cert_file and key_file, or psk_identity and psk")
    return ZabbixTls(**values)
