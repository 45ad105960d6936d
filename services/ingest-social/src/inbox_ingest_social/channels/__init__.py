"""One module per platform: Meta (facebook.py, with meta_events and meta_graph), Kakao
(kakao.py, kakao_senders.py) and Naver TalkTalk (naver_talktalk.py)."""

from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig
from inbox_ingest_social.channels.kakao import Kakao, KakaoConfig
from inbox_ingest_social.channels.naver_talktalk import NaverTalkTalk, TalkTalkConfig

__all__ = [
    "Facebook",
    "Instagram",
    "Kakao",
    "KakaoConfig",
    "MetaConfig",
    "NaverTalkTalk",
    "TalkTalkConfig",
]
