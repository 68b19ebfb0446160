#!/usr/bin/env python3
"""moto's server, extended where moto 5.2.5 falls short for apigw-compliance tests.

This runs the same WSGI application as ``moto.server`` / ``ThreadedMotoServer``
(``DomainDispatcherApplication(create_backend_app)`` on a threaded werkzeug server)
and adds, in this one file:

* model fixes, applied as small monkey-patches on moto's classes before the first
  request creates the Flask apps (each patch says what moto does and why it matters);
* a WSGI middleware in front of moto that counts every AWS request per account and
  operation, optionally throttles API Gateway calls per account+region like AWS does
  (HTTP 429 ``TooManyRequestsException``), and serves a small control API under
  ``/_apigw_test/``.

Everything moto already does right is left alone; README.md beside this file lists
what is native and what is extended.

Usage: server.py [--host 127.0.0.1] [--port 0] [--url-file F] [--owner-pid PID]
                 [--rate-limit N] [--rate-burst B] [--log-requests]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import signal
import string
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

import moto
from moto.apigateway import models as apigw_models
from moto.apigateway import urls as apigw_urls
from moto.apigateway.exceptions import BadRequestException, NotFoundException
from moto.apigateway.responses import APIGatewayResponse
from moto.apigatewayv2 import models as v2_models
from moto.apigatewayv2.exceptions import BadRequestException as V2BadRequestException
from moto.apigatewayv2.responses import ApiGatewayV2Response
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.core.request import Request as MotoRequest
from moto.core.routing import get_service_router
from moto.core.utils import utcnow
from moto.iam.models import get_account_id_from
from moto.organizations import models as org_models
from moto.organizations.exceptions import AWSOrganizationsNotInUseException
from moto.sts.models import sts_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.wafv2 import models as waf_models
from werkzeug.serving import make_server

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _paginate(
    items: list[Any], token: str | None, size: str | int | None, default: int | None, maximum: int
) -> tuple[list[Any], str | None]:
    """Offset pagination shared by the paged list calls below.

    ``token`` is the opaque position/nextToken of the previous page (here: the offset
    as a decimal string). ``size`` is the page size the caller asked for; ``default``
    is used when it did not ask (None = everything at once). Returns the page and the
    token of the next page (None on the last page).
    """
    try:
        start = int(token) if token else 0
    except ValueError as err:
        raise ValueError(f"invalid pagination token {token!r}") from err
    count = default if size in (None, "") else max(1, min(int(size), maximum))
    if count is None:
        return items[start:], None
    page = items[start : start + count]
    nxt = start + count
    return page, (str(nxt) if nxt < len(items) else None)


def _query(resp: Any, name: str) -> str | None:
    """First value of a query-string parameter of the request being served."""
    values = parse_qs(resp.parsed_url.query).get(name)
    return values[0] if values else None


def _json_body(resp: Any) -> dict[str, Any]:
    body = resp.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    return json.loads(body) if body else {}


# --------------------------------------------------------------------------------------
# REST API (apigateway) stages
# --------------------------------------------------------------------------------------

RestStage = apigw_models.Stage

# Why: moto's Stage has no clientCertificateId at all. Its apply_operations silently
# skips `replace /clientCertificateId` (the path has no method-setting shape), so
# APIGateway.2 could never pass nor be remediated. Store it and return it like AWS.
RestStage.client_certificate_id = None  # class default; set per instance by patches

_orig_rest_stage_to_json = RestStage.to_json
_orig_rest_stage_apply = RestStage.apply_operations


def _rest_stage_to_json(self: Any) -> dict[str, Any]:
    dct = _orig_rest_stage_to_json(self)
    if self.client_certificate_id:
        dct["clientCertificateId"] = self.client_certificate_id
    return dct


def _rest_stage_apply(self: Any, patch_operations: list[dict[str, Any]]) -> Any:
    rest = []
    for op in patch_operations:
        if op.get("path") == "/clientCertificateId":
            if op.get("op") == "replace":
                self.client_certificate_id = op.get("value") or None
            elif op.get("op") == "remove":
                self.client_certificate_id = None
            else:
                raise BadRequestException(
                    "Invalid patch operation specified. "
                    "Must be one of: [replace, remove] for path /clientCertificateId"
                )
        else:
            rest.append(op)
    return _orig_rest_stage_apply(self, rest)


def _rest_default_method_settings(self: Any) -> dict[str, Any]:
    # Why: moto 5.2.5 seeds a new method-settings entry with cacheDataEncrypted=True,
    # throttling 1000/2000 and no loggingLevel. AWS creates it with its defaults:
    # logging OFF, cache encryption OFF (the API reference and CDK document
    # `cacheDataEncrypted` default false), the account throttle (10000 rps / 5000
    # burst). Encryption defaulting to on would make APIGateway.5 pass where AWS fails.
    return {
        "metricsEnabled": False,
        "loggingLevel": "OFF",
        "dataTraceEnabled": False,
        "throttlingBurstLimit": 5000,
        "throttlingRateLimit": 10000.0,
        "cachingEnabled": False,
        "cacheTtlInSeconds": 300,
        "cacheDataEncrypted": False,
        "requireAuthorizationForCacheControl": True,
        "unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITH_RESPONSE_HEADER",
    }


RestStage.to_json = _rest_stage_to_json
RestStage.apply_operations = _rest_stage_apply
RestStage._get_default_method_settings = _rest_default_method_settings

_orig_create_deployment = apigw_models.RestAPI.create_deployment


def _create_deployment(self: Any, name: str, description: str, stage_variables: Any = None) -> Any:
    # Why: moto replaces an existing stage with a blank Stage when CreateDeployment
    # names it, wiping methodSettings, tracing, web ACL, certificate... AWS only points
    # the existing stage at the new deployment (and merges the given variables).
    existing = self.stages.get(name) if name else None
    deployment = _orig_create_deployment(self, name, description, stage_variables)
    if existing is not None:
        existing.deployment_id = deployment.id
        existing.variables.update(stage_variables or {})
        self.stages[name] = existing
    return deployment


apigw_models.RestAPI.create_deployment = _create_deployment

_orig_rest_update_stage = APIGatewayResponse.update_stage


def _rest_update_stage(self: Any) -> Any:
    # Why: AWS refuses a clientCertificateId that does not exist in the account+region;
    # checking it here keeps tests honest about generating the certificate first.
    for op in _json_body(self).get("patchOperations") or []:
        if op.get("path") == "/clientCertificateId" and op.get("op") == "replace":
            cert_id = op.get("value")
            if cert_id and cert_id not in _client_certificates(self.backend):
                raise BadRequestException("Invalid client certificate identifier specified")
    return _orig_rest_update_stage(self)


APIGatewayResponse.update_stage = _rest_update_stage


def _get_rest_apis(self: Any) -> str:
    # Why: moto ignores `position`/`limit` and returns every API in one page. AWS pages
    # GetRestApis (default 25 items, at most 500) and the product must follow
    # `position`; paging here makes that code path real.
    apis = self.backend.list_apis()
    try:
        page, position = _paginate(apis, _query(self, "position"), _query(self, "limit"), 25, 500)
    except ValueError as err:
        raise BadRequestException(str(err)) from err
    out: dict[str, Any] = {"item": [api.to_dict() for api in page]}
    if position:
        out["position"] = position
    return json.dumps(out)


APIGatewayResponse.get_rest_apis = _get_rest_apis

# --------------------------------------------------------------------------------------
# Client certificates (GenerateClientCertificate & co.): absent from moto 5.2.5
# --------------------------------------------------------------------------------------

apigw_urls.url_paths.update(
    {
        "{0}/clientcertificates$": APIGatewayResponse.dispatch,
        "{0}/clientcertificates/(?P<clientcertificate_id>[^/]+)/?$": APIGatewayResponse.dispatch,
    }
)


def _client_certificates(backend: Any) -> dict[str, dict[str, Any]]:
    """The certificates of one account+region (kept on moto's per-region backend, so
    moto's own reset and account separation apply to them too)."""
    return backend.__dict__.setdefault("_apigw_test_client_certificates", {})


def _self_signed_pem(
    common_name: str, not_before: datetime.datetime, not_after: datetime.datetime
) -> str:
    """A real, parseable PEM certificate (EC P-256: generating it costs ~1 ms)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _generate_client_certificate(self: Any) -> Any:
    params = _json_body(self)
    certs = _client_certificates(self.backend)
    alphabet = string.ascii_lowercase + string.digits
    cert_id = "".join(random.choice(alphabet) for _ in range(6))
    while cert_id in certs:
        cert_id = "".join(random.choice(alphabet) for _ in range(6))
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    expires = now + datetime.timedelta(days=365)  # AWS: client certificates last 365 days
    cert = {
        "clientCertificateId": cert_id,
        "pemEncodedCertificate": _self_signed_pem(cert_id, now, expires),
        "createdDate": int(now.timestamp()),
        "expirationDate": int(expires.timestamp()),
    }
    if params.get("description"):
        cert["description"] = params["description"]
    if params.get("tags"):
        cert["tags"] = params["tags"]
    certs[cert_id] = cert
    return 201, {"status": 201}, json.dumps(cert)


def _cert_or_404(self: Any) -> dict[str, Any]:
    cert_id = unquote(self.path.rstrip("/").split("/")[-1])
    cert = _client_certificates(self.backend).get(cert_id)
    if cert is None:
        raise NotFoundException("Invalid client certificate identifier specified")
    return cert


def _get_client_certificate(self: Any) -> str:
    return json.dumps(_cert_or_404(self))


def _get_client_certificates(self: Any) -> str:
    certs = list(_client_certificates(self.backend).values())
    try:
        page, position = _paginate(certs, _query(self, "position"), _query(self, "limit"), 25, 500)
    except ValueError as err:
        raise BadRequestException(str(err)) from err
    out: dict[str, Any] = {"item": page}
    if position:
        out["position"] = position
    return json.dumps(out)


def _update_client_certificate(self: Any) -> str:
    cert = _cert_or_404(self)
    for op in _json_body(self).get("patchOperations") or []:
        if op.get("op") == "replace" and op.get("path") == "/description":
            cert["description"] = op.get("value")
        else:
            raise BadRequestException(f"Invalid patch path {op.get('path')}")
    return json.dumps(cert)


def _delete_client_certificate(self: Any) -> Any:
    cert = _cert_or_404(self)
    del _client_certificates(self.backend)[cert["clientCertificateId"]]
    return 202, {"status": 202}, ""


APIGatewayResponse.generate_client_certificate = _generate_client_certificate
APIGatewayResponse.get_client_certificate = _get_client_certificate
APIGatewayResponse.get_client_certificates = _get_client_certificates
APIGatewayResponse.update_client_certificate = _update_client_certificate
APIGatewayResponse.delete_client_certificate = _delete_client_certificate

# --------------------------------------------------------------------------------------
# Custom domain names: UpdateDomainName is absent from moto 5.2.5
# --------------------------------------------------------------------------------------

# The patch paths UpdateDomainName accepts here: what APIGateway.11's remediation sends.
# Anything else is refused, as AWS refuses an unknown path, so a wrong request from the
# product fails the test.
_DOMAIN_PATCH_PATHS = {"/securityPolicy": "security_policy"}


def _update_domain_name(self: Any) -> str:
    name = unquote(self.path.rstrip("/").split("/")[-1])
    domain = self.backend.get_domain_name(name)
    for op in _json_body(self).get("patchOperations") or []:
        attribute = _DOMAIN_PATCH_PATHS.get(op.get("path"))
        if op.get("op") != "replace" or attribute is None:
            raise BadRequestException(f"Invalid patch path {op.get('path')}")
        setattr(domain, attribute, op.get("value"))
    return json.dumps(domain.to_json())


APIGatewayResponse.update_domain_name = _update_domain_name

# --------------------------------------------------------------------------------------
# API Gateway v2 (HTTP and WebSocket APIs)
# --------------------------------------------------------------------------------------

V2Stage = v2_models.Stage
V2Stage.deployment_id = None  # moto keeps no deploymentId on v2 stages

_orig_v2_stage_to_json = V2Stage.to_json


def _v2_stage_to_json(self: Any) -> dict[str, Any]:
    dct = _orig_v2_stage_to_json(self)
    if self.deployment_id:
        dct["deploymentId"] = self.deployment_id
    return dct


V2Stage.to_json = _v2_stage_to_json


def _reject_http_execution_logging(api: Any, config: dict[str, Any]) -> None:
    # Why: AWS refuses execution-logging settings on HTTP APIs ("Execution logs are not
    # supported on protocolType HTTP", BadRequestException); moto stores them. The
    # product must never send LoggingLevel to HTTP stages (docs/remediation.md), so tests
    # should fail loudly if it does.
    if api.protocol_type != "HTTP":
        return
    settings = [config.get("defaultRouteSettings") or {}]
    settings += list((config.get("routeSettings") or {}).values())
    for s in settings:
        if "loggingLevel" in s or "dataTraceEnabled" in s:
            raise V2BadRequestException("Execution logs are not supported on protocolType HTTP")


_orig_v2_create_stage = ApiGatewayV2Response.create_stage


def _v2_create_stage(self: Any) -> Any:
    # moto stores defaultRouteSettings/routeSettings/accessLogSettings of CreateStage
    # natively; only the HTTP-API check is added. AWS answers CreateStage with 201.
    api_id = self.path.split("/")[-2]
    _reject_http_execution_logging(self.apigatewayv2_backend.get_api(api_id), _json_body(self))
    _status, headers, body = _orig_v2_create_stage(self)
    return 201, headers, body


# UpdateStage field -> attribute of moto's v2 Stage.
_V2_STAGE_FIELDS = {
    "accessLogSettings": "access_log_settings",
    "autoDeploy": "auto_deploy",
    "clientCertificateId": "client_certificate_id",
    "defaultRouteSettings": "default_route_settings",
    "deploymentId": "deployment_id",
    "description": "description",
    "routeSettings": "route_settings",
    "stageVariables": "stage_variables",
}


def _v2_update_stage(self: Any) -> Any:
    # Why: moto 5.2.5 has no apigatewayv2 UpdateStage (the PATCH is routed to a missing
    # handler and fails), so APIGateway.1 (WebSocket) and .9 could not be remediated.
    # Semantics: every top-level field present in the body replaces the stage's value
    # (a whole object/map, not a deep merge); absent fields are kept.
    parts = self.path.split("/")
    api_id, stage_name = parts[-3], unquote(parts[-1])
    api = self.apigatewayv2_backend.get_api(api_id)
    stage = api.get_stage(stage_name)
    params = _json_body(self)
    _reject_http_execution_logging(api, params)
    for field, attr in _V2_STAGE_FIELDS.items():
        if field in params:
            setattr(stage, attr, params[field])
    stage.updated = datetime.datetime.now()
    return 200, {}, json.dumps(stage.to_json())


def _v2_paged(self: Any, key: str, items: list[Any]) -> Any:
    # Why: moto ignores maxResults/nextToken (see "Pagination is not yet implemented"
    # in its GetApis). Honour them so the product's NextToken loop is exercised; with
    # no maxResults everything comes back in one page, as moto did.
    try:
        page, token = _paginate(
            items, _query(self, "nextToken"), _query(self, "maxResults"), None, 500
        )
    except ValueError as err:
        raise V2BadRequestException(str(err)) from err
    out: dict[str, Any] = {key: [i.to_json() for i in page]}
    if token:
        out["nextToken"] = token
    return 200, {}, json.dumps(out)


def _v2_get_apis(self: Any) -> Any:
    return _v2_paged(self, "items", self.apigatewayv2_backend.get_apis())


def _v2_get_stages(self: Any) -> Any:
    api_id = self.path.split("/")[-2]
    return _v2_paged(self, "items", self.apigatewayv2_backend.get_stages(api_id))


def _v2_get_routes(self: Any) -> Any:
    api_id = self.path.split("/")[-2]
    return _v2_paged(self, "items", self.apigatewayv2_backend.get_routes(api_id))


def _v2_get_integrations(self: Any) -> Any:
    api_id = self.path.split("/")[-2]
    return _v2_paged(self, "items", self.apigatewayv2_backend.get_integrations(api_id))


ApiGatewayV2Response.create_stage = _v2_create_stage
ApiGatewayV2Response.update_stage = _v2_update_stage
ApiGatewayV2Response.get_apis = _v2_get_apis
ApiGatewayV2Response.get_stages = _v2_get_stages
ApiGatewayV2Response.get_routes = _v2_get_routes
ApiGatewayV2Response.get_integrations = _v2_get_integrations

# --------------------------------------------------------------------------------------
# WAFv2
# --------------------------------------------------------------------------------------

_orig_associate_web_acl = waf_models.WAFV2Backend.associate_web_acl


def _associate_web_acl(self: Any, web_acl_arn: str, resource_arn: str) -> None:
    # Why: a resource has at most one web ACL; AWS replaces the association. moto
    # appends, leaving the resource listed under the old ACL too, so
    # GetWebACLForResource would keep answering the old one.
    if web_acl_arn in self.wacls:
        for acl in self.wacls.values():
            if resource_arn in acl.associated_resources:
                acl.associated_resources.remove(resource_arn)
    _orig_associate_web_acl(self, web_acl_arn, resource_arn)


waf_models.WAFV2Backend.associate_web_acl = _associate_web_acl

# --------------------------------------------------------------------------------------
# Organizations: who may list the accounts
# --------------------------------------------------------------------------------------


def _management_only(name: str) -> None:
    """Wraps the backend's listing `name` so that only the organization's management
    account (or a delegated administrator, answered from the management account's
    organization) may call it."""
    original = getattr(org_models.OrganizationsBackend, name)

    def listing(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Why: moto answers an account outside any organization, and a member account,
        # with its own empty backend (no accounts, or ParentNotFoundException). AWS
        # refuses the first with AWSOrganizationsNotInUseException and a member that is
        # not a delegated administrator with AccessDeniedException: the two errors a
        # listing identity in the wrong account meets.
        if self.org is not None:
            return original(self, *args, **kwargs)
        owner = org_models.organizations_backends.master_accounts.get(self.account_id)
        if owner is None:
            raise AWSOrganizationsNotInUseException
        management = org_models.organizations_backends[owner[0]][owner[1]]
        if not any(admin.account.id == self.account_id for admin in management.admins):
            raise JsonRESTError(
                "AccessDeniedException", "You don't have permissions to access this resource."
            )
        return original(management, *args, **kwargs)

    setattr(org_models.OrganizationsBackend, name, listing)


for _listing in (
    "list_accounts",
    "list_accounts_for_parent",
    "list_organizational_units_for_parent",
):
    _management_only(_listing)

# --------------------------------------------------------------------------------------
# Bulk seeding (benchmarks): many APIs created in-process, without one request per call
# --------------------------------------------------------------------------------------


def _seed(account: str, region: str, spec: dict[str, Any]) -> dict[str, list[str]]:
    """Creates REST APIs (with stages) and v2 APIs (with routes and stages) in one
    account+region through moto's own backends, as CreateRestApi, CreateDeployment,
    CreateStage, UpdateStage, CreateApi, CreateRoute and CreateStage (v2) would.

    Why: a 10,000-stage benchmark estate takes tens of thousands of SDK calls to build,
    minutes of Python request handling; in-process it takes seconds. The same patched
    model code runs (UpdateStage patches, the HTTP-API logging check), and nothing is
    counted as an AWS request.

    spec: {"restApis": [{"name", "tags"?, "stages": [{"name", "tags"?, "patches"?:
    [{"op", "path", "value"}]}]}], "v2Apis": [{"name", "protocol": "HTTP"|"WEBSOCKET",
    "tags"?, "routes": [{"routeKey", "authorizationType"?}], "stages": [CreateStage
    body: {"stageName", "defaultRouteSettings"?, "accessLogSettings"?, ...}]}]}.
    Returns the ids created: {"restApis": [...], "v2Apis": [...]}.
    """
    rest = apigw_models.apigateway_backends[account][region]
    v2 = v2_models.apigatewayv2_backends[account][region]
    created: dict[str, list[str]] = {"restApis": [], "v2Apis": []}
    for api_spec in spec.get("restApis") or []:
        api = rest.create_rest_api(
            name=api_spec["name"], description="", tags=api_spec.get("tags") or None
        )
        # The backend's CreateDeployment insists on methods with integrations, which a
        # benchmark estate does not need; the API-level call is what it ends in.
        deployment = api.create_deployment("", "")
        for stage in api_spec.get("stages") or []:
            rest.create_stage(api.id, stage["name"], deployment.id, tags=stage.get("tags"))
            if stage.get("patches"):
                rest.update_stage(api.id, stage["name"], stage["patches"])
        created["restApis"].append(api.id)
    for api_spec in spec.get("v2Apis") or []:
        protocol = api_spec["protocol"]
        api = v2.create_api(
            api_key_selection_expression=None,
            cors_configuration=None,
            description="",
            disable_schema_validation=None,
            disable_execute_api_endpoint=None,
            name=api_spec["name"],
            protocol_type=protocol,
            route_selection_expression="$request.body.action"
            if protocol == "WEBSOCKET"
            else None,
            tags=api_spec.get("tags") or {},
            version=None,
        )
        for route in api_spec.get("routes") or []:
            api.create_route(
                api_key_required=False,
                authorization_scopes=[],
                route_key=route["routeKey"],
                target=None,
                authorization_type=route.get("authorizationType") or "NONE",
            )
        for stage in api_spec.get("stages") or []:
            _reject_http_execution_logging(api, stage)
            api.create_stage(stage)
        created["v2Apis"].append(api.api_id)
    return created


# --------------------------------------------------------------------------------------
# Request counting, throttling and the /_apigw_test control API
# --------------------------------------------------------------------------------------

CONTROL_PREFIX = "/_apigw_test/"
THROTTLED_SERVICES = ("apigateway", "apigatewayv2")  # the management-API quota


class TokenBucket:
    """rate tokens per second, at most burst banked; one token per request."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class ControlMiddleware:
    """Counts, optionally throttles, and serves /_apigw_test/ before moto sees a request."""

    def __init__(self, app: Callable[..., Any], rate: float, burst: float) -> None:
        self.app = app
        self.lock = threading.Lock()
        # account -> {"service:Operation": count}; throttled requests are counted
        # under their operation and again under the account's "throttled" total.
        self.calls: dict[str, dict[str, int]] = {}
        self.throttled: dict[str, int] = {}
        self.default_limit = (rate, burst) if rate > 0 else None
        self.account_limits: dict[str, tuple[float, float] | None] = {}
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self.key_accounts: dict[str, str] = {}
        # account -> [(region or "", "service:Operation", path substring)]: requests
        # that match are refused with 403 AccessDeniedException, as IAM would refuse
        # them, so tests can show what one denied API or region does to a scan.
        self.denials: dict[str, list[tuple[str, str, str]]] = {}
        # Accounts whose requests signed with an AssumeRole session past its Expiration
        # are refused with ExpiredToken, as AWS refuses them (moto never checks), so
        # tests can show that credentials are renewed before they run out.
        self.session_expiry: set[str] = set()
        # Accounts whose roles nobody may assume: sts:AssumeRole of a role in one is
        # refused with AccessDenied, as AWS refuses it when the role's trust policy does
        # not let the caller in (moto lets anyone assume any role).
        self.assume_denied: set[str] = set()

    # ---- request identification -------------------------------------------------

    @staticmethod
    def _credential_scope(environ: dict[str, Any]) -> list[str] | None:
        """[access key, date, region, service, 'aws4_request'] of a SigV4 request."""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        marker = "Credential="
        if marker not in auth:
            return None
        scope = auth.split(marker, 1)[1].split(",", 1)[0].strip().split("/")
        return scope if len(scope) == 5 else None

    def _account(self, environ: dict[str, Any], access_key: str | None) -> str:
        # Same order as moto's BaseResponse.get_current_account.
        if "MOTO_ACCOUNT_ID" in os.environ:
            return os.environ["MOTO_ACCOUNT_ID"]
        if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
            return environ["HTTP_X_MOTO_ACCOUNT_ID"]
        if not access_key:
            return DEFAULT_ACCOUNT_ID
        account = self.key_accounts.get(access_key)
        if account is None:
            account = get_account_id_from(access_key)
            if account != DEFAULT_ACCOUNT_ID:  # a key unknown now may be issued later
                self.key_accounts[access_key] = account
        return account

    @staticmethod
    def _operation(environ: dict[str, Any], service: str | None) -> tuple[str, str]:
        """(service, operation) as the AWS API names them, best effort."""
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:  # JSON protocols (wafv2, ...): "AWSWAF_20190729.GetWebACL"
            return service or target.split(".")[0], target.split(".")[-1]
        if service in ("apigateway", "securityhub"):
            # REST protocols name the operation by method and path: moto's own router
            # (botocore's model) tells which. API Gateway v2 signs as apigateway.
            name = (
                "apigatewayv2"
                if service == "apigateway" and environ.get("PATH_INFO", "").startswith("/v2/")
                else service
            )
            try:
                operation, _ = get_service_router(name).match(MotoRequest(environ))
                return name, operation.name
            except Exception:  # noqa: BLE001 - unknown route: fall back to method+path
                return name, f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        action = ControlMiddleware._form(environ).get("Action")
        if action:
            return service or "unknown", action[0]
        return service or "unknown", f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"

    @staticmethod
    def _form(environ: dict[str, Any]) -> dict[str, list[str]]:
        """The parameters of a query-protocol request (sts, ...), which are in its
        form-encoded body; the body is read and put back for moto. Empty for others."""
        if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            return {}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return parse_qs(body.decode("utf-8", "replace"))

    # ---- session expiry ---------------------------------------------------------

    def _expired(self, account: str, access_key: str | None) -> bool:
        """Whether the request's key is an AssumeRole session of `account` that ran out."""
        if account not in self.session_expiry or not access_key:
            return False
        for backend in sts_backends[account].values():
            role = backend.get_assumed_role_from_access_key(access_key)
            if role is not None:
                return bool(role.expiration <= utcnow())
        return False

    @staticmethod
    def _expired_answer(service: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        """ExpiredToken in the service's error shape: XML for STS (query protocol), JSON
        with x-amzn-ErrorType for the REST-JSON and JSON services."""
        message = "The security token included in the request is expired"
        if service == "sts":
            body = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                f"<Type>Sender</Type><Code>ExpiredToken</Code><Message>{message}</Message>"
                "</Error><RequestId>expired</RequestId></ErrorResponse>"
            ).encode()
            headers = [("Content-Type", "text/xml")]
        else:
            body = json.dumps({"__type": "ExpiredTokenException", "message": message}).encode()
            headers = [
                ("Content-Type", "application/json"),
                ("x-amzn-ErrorType", "ExpiredTokenException"),
            ]
        start_response("403 Forbidden", [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _refused_assume(self, environ: dict[str, Any]) -> str | None:
        """The role ARN of an sts:AssumeRole into an account under deny-assume, else None."""
        if not self.assume_denied:
            return None
        role = (self._form(environ).get("RoleArn") or [""])[0]
        parts = role.split(":")
        return role if len(parts) > 4 and parts[4] in self.assume_denied else None

    @staticmethod
    def _assume_denied_answer(
        caller_account: str,
        access_key: str | None,
        role: str,
        start_response: Callable[..., Any],
    ) -> Iterable[bytes]:
        """STS's query-protocol AccessDenied, as AWS answers an AssumeRole the role's
        trust policy does not allow."""
        caller = f"arn:aws:iam::{caller_account}:user/{access_key or 'anonymous'}"
        if access_key and caller_account in sts_backends:
            for backend in sts_backends[caller_account].values():
                assumed = backend.get_assumed_role_from_access_key(access_key)
                if assumed is not None:
                    caller = assumed.arn
                    break
        message = (
            f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: "
            f"{role} (test denial)"
        )
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>Sender</Type><Code>AccessDenied</Code><Message>{escape(message)}</Message>"
            "</Error><RequestId>assume-denied</RequestId></ErrorResponse>"
        ).encode()
        start_response(
            "403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
        )
        return [body]

    # ---- throttling -------------------------------------------------------------

    def _allowed(self, account: str, region: str) -> bool:
        limit = self.account_limits.get(account, self.default_limit)
        if limit is None:
            return True
        bucket = self.buckets.get((account, region))
        if bucket is None or (bucket.rate, bucket.burst) != limit:
            bucket = self.buckets[(account, region)] = TokenBucket(*limit)
        return bucket.take()

    # ---- WSGI -------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)

        scope = self._credential_scope(environ)
        access_key, region, signing = (
            (scope[0], scope[2], scope[3]) if scope else (None, "us-east-1", None)
        )
        account = self._account(environ, access_key)
        service, operation = self._operation(environ, signing)
        key = f"{service}:{operation}"
        with self.lock:
            counts = self.calls.setdefault(account, {})
            counts[key] = counts.get(key, 0) + 1
            denied = any(
                (not rule_region or rule_region == region)
                and rule_key == key
                and needle in path
                for rule_region, rule_key, needle in self.denials.get(account, [])
            )
            allowed = (
                denied or service not in THROTTLED_SERVICES or self._allowed(account, region)
            )
            if not allowed:
                self.throttled[account] = self.throttled.get(account, 0) + 1
        if self._expired(account, access_key):
            return self._expired_answer(service, start_response)
        if key == "sts:AssumeRole":
            refused = self._refused_assume(environ)
            if refused is not None:
                return self._assume_denied_answer(account, access_key, refused, start_response)
        if denied:
            body = json.dumps(
                {"message": f"User is not authorized to perform {key} on {path} (test denial)"}
            ).encode()
            start_response(
                "403 Forbidden",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("x-amzn-ErrorType", "AccessDeniedException"),
                ],
            )
            return [body]
        if not allowed:
            # The REST-JSON error shape the SDKs read: the type from x-amzn-ErrorType,
            # the message from the body. TooManyRequestsException is a throttling error
            # for the AWS SDKs' retry classifiers.
            body = json.dumps({"message": "Too Many Requests"}).encode()
            start_response(
                "429 Too Many Requests",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("x-amzn-ErrorType", "TooManyRequestsException"),
                    (
                        "x-amzn-RequestId",
                        "".join(random.choice(string.hexdigits) for _ in range(32)),
                    ),
                    ("Retry-After", "1"),
                ],
            )
            return [body]
        return self.app(environ, start_response)

    # ---- control API --------------------------------------------------------------

    def _summary(self, accounts: Iterable[str]) -> dict[str, Any]:
        merged: dict[str, int] = {}
        throttled = 0
        for account in accounts:
            for key, n in self.calls.get(account, {}).items():
                merged[key] = merged.get(key, 0) + n
            throttled += self.throttled.get(account, 0)
        return {
            "total": sum(merged.values()),
            "throttled": throttled,
            "calls": dict(sorted(merged.items())),
        }

    @staticmethod
    def _seed(
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        account: str | None,
        region: str | None,
    ) -> Iterable[bytes]:
        status = "200 OK"
        try:
            if not account or not region:
                raise ValueError("account and region are required")
            length = int(environ.get("CONTENT_LENGTH") or 0)
            spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
            payload: dict[str, Any] = _seed(account, region, spec)
        except Exception as err:  # noqa: BLE001 - any bad spec is the caller's 400
            status, payload = "400 Bad Request", {"message": f"{type(err).__name__}: {err}"}
        body = json.dumps(payload).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _control(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        route = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX) :].rstrip("/")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        account = query.get("account")
        status, payload = "200 OK", {}
        if route == "seed" and method == "POST":
            # Outside the lock: seeding takes seconds and must not stall the counting
            # of other tests' requests.
            return self._seed(environ, start_response, account, query.get("region"))
        with self.lock:
            if route == "health" and method == "GET":
                payload = {"ok": True, "moto": moto.__version__}
            elif route == "calls" and method == "GET":
                if account:
                    payload = self._summary([account])
                else:
                    payload = self._summary(list(self.calls))
                    payload["accounts"] = {a: self._summary([a]) for a in sorted(self.calls)}
            elif route == "calls/reset" and method == "POST":
                for table in (self.calls, self.throttled):
                    if account:
                        table.pop(account, None)
                    else:
                        table.clear()
                payload = {"reset": account or "all"}
            elif route == "deny" and method == "POST":
                # ?account=ID&operation=apigateway:GetStages[&region=R][&path=SUBSTRING]
                operation = query.get("operation")
                if not account or not operation:
                    status, payload = (
                        "400 Bad Request",
                        {"message": "account and operation are required"},
                    )
                else:
                    rule = (query.get("region", ""), operation, query.get("path", ""))
                    self.denials.setdefault(account, []).append(rule)
                    payload = {"account": account, "denied": list(rule)}
            elif route == "allow" and method == "POST":
                # ?account=ID&operation=securityhub:BatchImportFindings: drops that
                # account's deny rules of the operation (what granting it back does).
                operation = query.get("operation")
                if not account or not operation:
                    status, payload = (
                        "400 Bad Request",
                        {"message": "account and operation are required"},
                    )
                else:
                    rules = self.denials.get(account, [])
                    kept = [rule for rule in rules if rule[1] != operation]
                    self.denials[account] = kept
                    payload = {
                        "account": account,
                        "allowed": operation,
                        "dropped": len(rules) - len(kept),
                    }
            elif route == "session-expiry" and method == "POST":
                # ?account=ID: from now on, that account's AssumeRole sessions end at
                # their Expiration (requests signed with them get ExpiredToken).
                if not account:
                    status, payload = "400 Bad Request", {"message": "account is required"}
                else:
                    self.session_expiry.add(account)
                    payload = {"account": account, "sessionExpiry": True}
            elif route == "deny-assume" and method == "POST":
                # ?account=ID: from now on, sts:AssumeRole of any role in that account is
                # refused with AccessDenied (a member role whose trust policy does not
                # let the caller in).
                if not account:
                    status, payload = "400 Bad Request", {"message": "account is required"}
                else:
                    self.assume_denied.add(account)
                    payload = {"account": account, "assumeDenied": True}
            elif route == "rate-limit" and method == "POST":
                # ?account=ID&rate=N[&burst=B]: per-account override (rate=0: never
                # throttle this account); without account: the server-wide default.
                try:
                    rate = float(query.get("rate", "0"))
                    burst = float(query.get("burst", str(max(1.0, rate * 4))))
                except ValueError:
                    rate, burst = -1.0, -1.0
                if rate < 0 or (rate > 0 and burst < 1):
                    status, payload = (
                        "400 Bad Request",
                        {"message": "rate >= 0 and burst >= 1 required"},
                    )
                else:
                    limit = (rate, burst) if rate > 0 else None
                    if account:
                        self.account_limits[account] = limit
                        for k in [k for k in self.buckets if k[0] == account]:
                            del self.buckets[k]
                    else:
                        self.default_limit = limit
                        self.buckets.clear()
                    payload = {"account": account, "rate": rate, "burst": burst if limit else None}
            else:
                status, payload = "404 Not Found", {"message": f"no control route {method} {route}"}
        body = json.dumps(payload).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


# --------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------


class QuietRequestHandler(MotoRequestHandler):
    """moto's handler without one stderr line per request (benchmarks make thousands)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _watch_owner(pid: int, stop: Callable[[], None]) -> None:
    """Stop the server once process `pid` has exited (tests that die leave nothing)."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop()
            return
        except PermissionError:
            pass  # exists, owned by someone else
        try:
            # An exited owner its parent has not reaped yet is a zombie: gone for us.
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                if f.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    stop()
                    return
        except (OSError, IndexError):
            pass  # no /proc (not Linux) or the process vanished: kill() decides next time
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one (default)"
    )
    parser.add_argument("--url-file", help="write the server URL here once it listens")
    parser.add_argument("--owner-pid", type=int, help="exit when this process exits")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=float(os.environ.get("APIGW_MOTO_RATE_LIMIT", "0")),
        help="API Gateway requests per second per account+region; 0 = unlimited "
        "(env APIGW_MOTO_RATE_LIMIT)",
    )
    parser.add_argument(
        "--rate-burst",
        type=float,
        default=float(os.environ.get("APIGW_MOTO_RATE_BURST") or 0) or None,
        help="token-bucket size; default 4 x rate, like AWS's 10/s with burst 40 "
        "(env APIGW_MOTO_RATE_BURST)",
    )
    parser.add_argument(
        "--log-requests", action="store_true", help="log one line per request to stderr"
    )
    args = parser.parse_args(argv)
    burst = args.rate_burst if args.rate_burst is not None else max(1.0, args.rate_limit * 4)

    app = ControlMiddleware(DomainDispatcherApplication(create_backend_app), args.rate_limit, burst)
    handler = MotoRequestHandler if args.log_requests else QuietRequestHandler
    server = make_server(args.host, args.port, app, threaded=True, request_handler=handler)
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"

    def stop(*_: Any) -> None:
        # shutdown() blocks until serve_forever returns: call it off the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.owner_pid:
        threading.Thread(target=_watch_owner, args=(args.owner_pid, stop), daemon=True).start()
    if args.url_file:
        tmp = f"{args.url_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(url + "\n")
        os.replace(tmp, args.url_file)
    print(url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
