"""The marketplace channels, as registered (entry points `inbox.channels` in this package's
pyproject.toml): how the service builds each from its accounts, the console badge, the
simulator for `make demo`.

Cheap to import (the notifier reads the badges): the channels' code is imported in `setup`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from inbox_core.channels import Badge, ChannelRegistration, ChannelSetup, Host, Simulator
from inbox_core.demo_phrases import QNA_QUESTIONS, post_json
from inbox_core.embedded import find_binary

if TYPE_CHECKING:
    from inbox_core.channels import DemoSite
    from inbox_ingest_marketplace.channels.board_poller import MarketChannel

SERVICE: Final = "ingest-marketplace"
DEMO_POLL_S: Final = "5"


def _setup(
    host: Host, platform: str, variable: str, build: Callable[[Any, Host], MarketChannel]
) -> ChannelSetup:
    """One poller per account of `platform` (host.shared: accounts, options, ledger)."""
    channels = [build(c, host) for c in host.shared["accounts"] if c.platform == platform]
    if not channels:
        reason = f"{variable} is not set and INBOX_MARKET_ACCOUNTS names no {platform} account"
        return ChannelSetup(disabled=f"disabled: {reason}")
    return ChannelSetup(pollers=list(channels), replies={c.account: c for c in channels})


def _model(name: str) -> type[Any]:
    """An account model of accounts.py (imported on use: it needs pydantic and YAML)."""
    from inbox_ingest_marketplace import accounts

    model: type[Any] = getattr(accounts, name)
    return model


# --- Naver SmartStore (Commerce API) -------------------------------------------------------


def _naver(config: Any, host: Host) -> MarketChannel:
    from inbox_ingest_marketplace.channels.naver_commerce import NaverCommerce

    return NaverCommerce(
        config.account,
        client_id=config.client_id,
        client_secret=config.client_secret.get_secret_value(),
        base_url=config.url,
        options=host.shared["options"](config),
        ledger=host.shared["ledger"],
    )


def _naver_start(site: DemoSite) -> list[str]:
    env = site.env
    client_id = env.setdefault("NAVER_COMMERCE_CLIENT_ID", "demo-client")
    secret_file = site.data_dir / "demo-naver-secret"
    if "NAVER_COMMERCE_CLIENT_SECRET" not in env:
        if not secret_file.exists():
            import bcrypt

            secret_file.write_text(bcrypt.gensalt(4).decode())
        env["NAVER_COMMERCE_CLIENT_SECRET"] = secret_file.read_text().strip()
    env["NAVER_COMMERCE_URL"] = site.url + "/external"
    env.setdefault("INBOX_MARKET_POLL_S", DEMO_POLL_S)
    return [
        find_binary("inbox-sim-naver-commerce"),
        "--port",
        str(site.port),
        "--client-id",
        client_id,
        "--client-secret",
        env["NAVER_COMMERCE_CLIENT_SECRET"],
        "--seed",
    ]


def _naver_customer(site: DemoSite) -> None:
    product_id, product, question = site.rng.choice(QNA_QUESTIONS)
    writer = site.rng.choice(["hong****", "kim1****", "lee2****", "park****"])
    qna = {
        "productId": int(product_id),
        "productName": product,
        "question": question,
        "maskedWriterId": writer,
    }
    post_json(site.url + "/_sim/qnas", qna)


NAVER_COMMERCE = ChannelRegistration(
    name="naver_commerce",
    service=SERVICE,
    badge=Badge({"ko": "스마트스토어", "en": "SmartStore"}, "#00a04a"),
    setup=lambda host: _setup(host, "naver_commerce", "NAVER_COMMERCE_CLIENT_ID", _naver),
    simulator=Simulator(start=_naver_start, customer=_naver_customer),
    order=60,
    account_model=lambda: _model("NaverCommerceAccount"),
)


# --- Coupang (Wing Open API) ---------------------------------------------------------------


def _coupang(config: Any, host: Host) -> MarketChannel:
    from inbox_ingest_marketplace.channels.coupang import Coupang

    return Coupang(
        config.account,
        access_key=config.access_key,
        secret_key=config.secret_key.get_secret_value(),
        vendor_id=config.vendor_id,
        wing_id=config.wing_id,
        base_url=config.url,
        options=host.shared["options"](config),
        ledger=host.shared["ledger"],
    )


def _coupang_start(site: DemoSite) -> list[str]:
    env = site.env
    env.setdefault("COUPANG_ACCESS_KEY", "demo-access-key")
    env.setdefault("COUPANG_SECRET_KEY", "demo-secret-key")
    env.setdefault("COUPANG_VENDOR_ID", "A00012345")
    env["COUPANG_URL"] = site.url
    env.setdefault("INBOX_MARKET_POLL_S", DEMO_POLL_S)
    return [
        find_binary("inbox-sim-coupang"),
        "--port",
        str(site.port),
        "--access-key",
        env["COUPANG_ACCESS_KEY"],
        "--secret-key",
        env["COUPANG_SECRET_KEY"],
        "--vendor-id",
        env["COUPANG_VENDOR_ID"],
        "--seed",
    ]


def _coupang_customer(site: DemoSite) -> None:
    inquiry = {
        "content": site.rng.choice([q for _, _, q in QNA_QUESTIONS]),
        "vendorId": site.env["COUPANG_VENDOR_ID"],
    }
    post_json(f"{site.url}/_sim/online-inquiries", inquiry)


COUPANG = ChannelRegistration(
    name="coupang",
    service=SERVICE,
    badge=Badge({"ko": "쿠팡", "en": "Coupang"}, "#c4302b"),
    setup=lambda host: _setup(host, "coupang", "COUPANG_ACCESS_KEY", _coupang),
    simulator=Simulator(start=_coupang_start, customer=_coupang_customer),
    order=70,
    account_model=lambda: _model("CoupangAccount"),
)


# --- 11st (Open API) -----------------------------------------------------------------------


def _elevenst(config: Any, host: Host) -> MarketChannel:
    from inbox_ingest_marketplace.channels.elevenst import Elevenst

    return Elevenst(
        config.account,
        api_key=config.api_key.get_secret_value(),
        base_url=config.url,
        options=host.shared["options"](config),
        ledger=host.shared["ledger"],
    )


def _elevenst_start(site: DemoSite) -> list[str]:
    env = site.env
    env.setdefault("ELEVENST_API_KEY", "demo-11st-key")
    env["ELEVENST_URL"] = site.url
    env.setdefault("INBOX_MARKET_POLL_S", DEMO_POLL_S)
    return [
        find_binary("inbox-sim-elevenst"),
        "--port",
        str(site.port),
        "--api-key",
        env["ELEVENST_API_KEY"],
        "--seed",
    ]


def _elevenst_customer(site: DemoSite) -> None:
    product_id, product, question = site.rng.choice(QNA_QUESTIONS)
    qna = {
        "brdInfoCont": question,
        "brdInfoSbjct": "상품 문의",
        "brdInfoClfNo": product_id,
        "prdNm": product,
        "memID": "buyer***",
    }
    post_json(f"{site.url}/_sim/qnas", qna)


ELEVENST = ChannelRegistration(
    name="elevenst",
    service=SERVICE,
    badge=Badge({"ko": "11번가", "en": "11st"}, "#f43f5e"),
    setup=lambda host: _setup(host, "elevenst", "ELEVENST_API_KEY", _elevenst),
    simulator=Simulator(start=_elevenst_start, customer=_elevenst_customer),
    order=80,
    account_model=lambda: _model("ElevenstAccount"),
)
