// Every string the console shows. Korean is the default; English is one click away.
// t("key", {name: "x"}) fills {name}; values are inserted as text, never as HTML.

const MESSAGES = {
  ko: {
    "app.title": "통합 상담함",
    "login.title": "상담원 로그인",
    "login.token": "상담원 토큰",
    "login.hint": "INBOX_AGENT_TOKENS의 토큰, 또는 $INBOX_DATA_DIR/admin-token 파일의 관리자 토큰을 입력하세요.",
    "login.submit": "로그인",
    "login.invalid": "토큰이 올바르지 않습니다.",
    "login.unreachable": "서버에 연결할 수 없습니다.",
    "header.logout": "로그아웃",
    "header.language": "English",
    "header.notify_on": "알림 켜기",
    "header.notify_off": "알림 끄기",
    "header.notify_denied": "브라우저에서 알림이 차단되어 있습니다.",
    "header.help": "단축키",
    "header.reports": "리포트",
    "header.agent": "{agent} 상담원",
    "conn.live": "실시간",
    "conn.connecting": "연결 중…",
    "conn.offline": "연결 끊김 — 다시 연결하는 중",
    "filter.status": "상태",
    "filter.team": "팀",
    "filter.channel": "채널",
    "filter.assignee": "담당자",
    "filter.all": "전체",
    "filter.active": "진행 중",
    "filter.me": "나",
    "filter.search": "검색 (제목·내용, / 키)",
    "queue.empty": "조건에 맞는 문의가 없습니다.",
    "queue.more": "더 보기",
    "queue.count": "{count}건",
    "queue.unassigned": "미배정",
    "status.open": "열림",
    "status.pending": "대기",
    "status.resolved": "해결",
    "priority.urgent": "긴급",
    "priority.high": "높음",
    "priority.normal": "보통",
    "priority.low": "낮음",
    "sla.left": "{time} 남음",
    "sla.over": "{time} 초과",
    "sla.paused": "일시정지",
    "sla.none": "—",
    "sla.warning": "SLA 임박",
    "sla.breached": "SLA 초과",
    "time.d": "{n}일",
    "time.h": "{n}시간",
    "time.m": "{n}분",
    "time.s": "{n}초",
    "thread.empty": "왼쪽 목록에서 문의를 선택하세요.",
    "thread.loading": "불러오는 중…",
    "thread.claim": "내가 맡기",
    "thread.release": "배정 해제",
    "thread.assign": "배정",
    "thread.assign_to": "상담원 이름",
    "thread.assignee": "담당",
    "thread.team": "팀",
    "thread.priority": "우선순위",
    "thread.tags": "태그",
    "thread.add_tag": "태그 추가",
    "thread.remove_tag": "{tag} 태그 삭제",
    "thread.reasons": "라우팅 사유",
    "thread.linked": "연결된 문의",
    "thread.context": "상품·주문 정보",
    "thread.attachments": "첨부파일",
    "msg.customer": "고객",
    "msg.reply": "답장",
    "msg.note": "비공개 메모",
    "msg.auto_reply": "자동 답장",
    "msg.system": "시스템",
    "msg.flag.auto_reply": "자동응답 메일",
    "msg.flag.bounce": "반송 메일",
    "msg.flag.list_mail": "대량 메일",
    "msg.flag.echo": "페이지에서 직접 보냄",
    "delivery.queued": "전송 대기",
    "delivery.sent": "전송됨",
    "delivery.failed": "전송 실패",
    "context.product_name": "상품",
    "context.product_id": "상품번호",
    "context.order_id": "주문번호",
    "context.product_option": "옵션",
    "context.order_ids": "주문번호",
    "context.product_order_ids": "상품주문번호",
    "context.vendor_item_id": "옵션 ID",
    "context.category": "문의 유형",
    "context.question_id": "문의번호",
    "reply.tab_reply": "답장",
    "reply.tab_note": "메모",
    "reply.placeholder": "고객에게 보낼 답장 (Ctrl+Enter로 전송)",
    "reply.note_placeholder": "동료에게만 보이는 메모",
    "reply.canned": "자주 쓰는 답변",
    "reply.canned_none": "자주 쓰는 답변 선택…",
    "reply.preview": "미리보기",
    "reply.missing": "값이 없는 항목: {names}",
    "reply.send": "답장 보내기",
    "reply.save_note": "메모 저장",
    "reply.sent": "답장을 보냈습니다.",
    "reply.noted": "메모를 저장했습니다.",
    "customer.title": "고객 정보",
    "customer.identities": "채널별 계정",
    "customer.conversations": "문의 내역",
    "customer.history": "채널 통합 대화 기록",
    "customer.none": "고객 정보가 없습니다.",
    "error.assign_conflict": "이미 {assignee} 상담원이 담당하고 있습니다.",
    "error.changed": "다른 상담원이 먼저 변경했습니다. 최신 내용을 불러왔습니다.",
    "error.invalid_transition": "{from} 상태에서 {to} 상태로 바꿀 수 없습니다.",
    "error.bus_unavailable": "지금은 보낼 수 없습니다. 잠시 후 다시 시도하세요.",
    "error.generic": "요청이 실패했습니다: {message}",
    "error.take_over": "가져오기",
    "error.ask_admin": "가져오려면 관리자에게 요청하세요.",
    "error.forbidden": "관리자만 할 수 있는 작업입니다.",
    "role.admin": "관리자",
    "role.agent": "상담원",
    "error.dismiss": "닫기",
    "notify.new": "새 문의 #{number} · {channel}",
    "help.title": "키보드 단축키",
    "help.next": "다음 문의",
    "help.prev": "이전 문의",
    "help.reply": "답장 쓰기",
    "help.resolve": "해결로 변경",
    "help.claim": "내가 맡기",
    "help.search": "검색",
    "help.help": "이 도움말",
    "help.send": "답장 보내기",
    "help.close": "닫기 / 입력 취소",
    "team.shipping": "배송",
    "team.returns": "환불·반품·교환",
    "team.claims": "불량·누락·오배송",
    "team.product": "상품·재입고",
    "team.account": "계정·본인인증",
    "team.app": "앱·사이트",
    "team.general": "일반",
  },
  en: {
    "app.title": "Unified inbox",
    "login.title": "Agent sign-in",
    "login.token": "Agent token",
    "login.hint": "A token from INBOX_AGENT_TOKENS, or the admin token in $INBOX_DATA_DIR/admin-token.",
    "login.submit": "Sign in",
    "login.invalid": "That token is not valid.",
    "login.unreachable": "The server cannot be reached.",
    "header.logout": "Sign out",
    "header.language": "한국어",
    "header.notify_on": "Enable alerts",
    "header.notify_off": "Disable alerts",
    "header.notify_denied": "Notifications are blocked in this browser.",
    "header.help": "Shortcuts",
    "header.reports": "Reports",
    "header.agent": "Agent {agent}",
    "conn.live": "Live",
    "conn.connecting": "Connecting…",
    "conn.offline": "Connection lost — reconnecting",
    "filter.status": "Status",
    "filter.team": "Team",
    "filter.channel": "Channel",
    "filter.assignee": "Assignee",
    "filter.all": "All",
    "filter.active": "Active",
    "filter.me": "Me",
    "filter.search": "Search (subject, text, / key)",
    "queue.empty": "No conversations match.",
    "queue.more": "Load more",
    "queue.count": "{count} conversations",
    "queue.unassigned": "Unassigned",
    "status.open": "Open",
    "status.pending": "Pending",
    "status.resolved": "Resolved",
    "priority.urgent": "Urgent",
    "priority.high": "High",
    "priority.normal": "Normal",
    "priority.low": "Low",
    "sla.left": "{time} left",
    "sla.over": "{time} over",
    "sla.paused": "Paused",
    "sla.none": "—",
    "sla.warning": "SLA soon",
    "sla.breached": "SLA breached",
    "time.d": "{n}d",
    "time.h": "{n}h",
    "time.m": "{n}m",
    "time.s": "{n}s",
    "thread.empty": "Pick a conversation on the left.",
    "thread.loading": "Loading…",
    "thread.claim": "Claim",
    "thread.release": "Unassign",
    "thread.assign": "Assign",
    "thread.assign_to": "Agent name",
    "thread.assignee": "Assignee",
    "thread.team": "Team",
    "thread.priority": "Priority",
    "thread.tags": "Tags",
    "thread.add_tag": "Add tag",
    "thread.remove_tag": "Remove tag {tag}",
    "thread.reasons": "Routing reasons",
    "thread.linked": "Linked conversations",
    "thread.context": "Product and order",
    "thread.attachments": "Attachments",
    "msg.customer": "Customer",
    "msg.reply": "Reply",
    "msg.note": "Private note",
    "msg.auto_reply": "Automatic reply",
    "msg.system": "System",
    "msg.flag.auto_reply": "Auto-reply mail",
    "msg.flag.bounce": "Bounce",
    "msg.flag.list_mail": "List mail",
    "msg.flag.echo": "Sent from the page directly",
    "delivery.queued": "Queued",
    "delivery.sent": "Sent",
    "delivery.failed": "Failed",
    "context.product_name": "Product",
    "context.product_id": "Product id",
    "context.order_id": "Order",
    "context.product_option": "Option",
    "context.order_ids": "Orders",
    "context.product_order_ids": "Order lines",
    "context.vendor_item_id": "Option id",
    "context.category": "Inquiry type",
    "context.question_id": "Question id",
    "reply.tab_reply": "Reply",
    "reply.tab_note": "Note",
    "reply.placeholder": "Reply to the customer (Ctrl+Enter sends)",
    "reply.note_placeholder": "A note only colleagues see",
    "reply.canned": "Canned responses",
    "reply.canned_none": "Pick a canned response…",
    "reply.preview": "Preview",
    "reply.missing": "No value for: {names}",
    "reply.send": "Send reply",
    "reply.save_note": "Save note",
    "reply.sent": "Reply sent.",
    "reply.noted": "Note saved.",
    "customer.title": "Customer",
    "customer.identities": "Identities",
    "customer.conversations": "Conversations",
    "customer.history": "History across channels",
    "customer.none": "No customer record.",
    "error.assign_conflict": "{assignee} already holds this conversation.",
    "error.changed": "Someone changed it first; the latest version is shown.",
    "error.invalid_transition": "Cannot move from {from} to {to}.",
    "error.bus_unavailable": "Cannot send right now; try again shortly.",
    "error.generic": "Request failed: {message}",
    "error.take_over": "Take over",
    "error.ask_admin": "Ask an admin to take it over.",
    "error.forbidden": "Only an admin can do this.",
    "role.admin": "Admin",
    "role.agent": "Agent",
    "error.dismiss": "Dismiss",
    "notify.new": "New #{number} · {channel}",
    "help.title": "Keyboard shortcuts",
    "help.next": "Next conversation",
    "help.prev": "Previous conversation",
    "help.reply": "Write a reply",
    "help.resolve": "Resolve",
    "help.claim": "Claim",
    "help.search": "Search",
    "help.help": "This help",
    "help.send": "Send the reply",
    "help.close": "Close / leave the field",
    "team.shipping": "Shipping",
    "team.returns": "Refunds & returns",
    "team.claims": "Defects & missing items",
    "team.product": "Product & restock",
    "team.account": "Account & identity",
    "team.app": "App & site",
    "team.general": "General",
  },
};

// Routing categories by language (the reports page and the routing panel).
const CATEGORIES = {
  ko: {
    shipping: "배송",
    refund_return_exchange: "환불·반품·교환",
    restock: "재입고",
    product: "상품문의",
    defect_missing_wrong: "불량·누락·오배송",
    identity: "본인인증",
    app: "앱",
    general: "일반",
    coupon: "쿠폰",
  },
  en: {
    shipping: "Shipping",
    refund_return_exchange: "Refund/return/exchange",
    restock: "Restock",
    product: "Product",
    defect_missing_wrong: "Defect/missing/wrong",
    identity: "Identity",
    app: "App",
    general: "General",
    coupon: "Coupon",
  },
};

export const LANGUAGES = Object.keys(MESSAGES);
/** Installed channels (GET /api/channels, from the channel registry): filled by setChannels. */
export const CHANNELS = [];
const channelLabels = {}; // channel → { lang → label }

let current = "ko";

export function getLang() {
  return current;
}

export function setLang(lang) {
  current = MESSAGES[lang] ? lang : "ko";
  document.documentElement.lang = current;
  document.title = t("app.title");
  applyI18n(document);
}

/** A routing category's name in the console's language, else the category itself. */
export function categoryLabel(key) {
  return CATEGORIES[current]?.[key] ?? CATEGORIES.ko[key] ?? key;
}

export function t(key, vars = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.ko[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** A label for a value that may have a translation (channel, team...), else the value. */
export function label(prefix, value) {
  if (value == null || value === "") return "";
  if (prefix === "channel" && channelLabels[value]) {
    const labels = channelLabels[value];
    return labels[current] ?? labels.ko ?? labels.en ?? String(value);
  }
  const key = `${prefix}.${value}`;
  return MESSAGES[current][key] ?? MESSAGES.ko[key] ?? String(value);
}

/** Load the installed channels once signed in; without them, badges show the channel id. */
export async function loadChannels(api) {
  try {
    setChannels((await api.channels()).items);
  } catch {
    setChannels([]);
  }
}

/** The registry's channels: their labels, the filter's list and the badge colours. */
export function setChannels(items) {
  CHANNELS.length = 0;
  const rules = [];
  for (const c of items) {
    CHANNELS.push(c.name);
    channelLabels[c.name] = c.labels || {};
    const ok = (v) => /^#[0-9a-fA-F]{6}$/.test(v || "");
    if (ok(c.colour) && ok(c.text_colour)) {
      rules.push(`.badge[data-channel="${CSS.escape(c.name)}"] { background: ${c.colour}; color: ${c.text_colour}; }`);
    }
  }
  let style = document.getElementById("channel-badges");
  if (!style) {
    style = document.createElement("style");
    style.id = "channel-badges";
    document.head.append(style);
  }
  style.textContent = rules.join("\n");
}

/** Fill static markup: data-i18n (text), data-i18n-placeholder, data-i18n-title, data-i18n-aria. */
export function applyI18n(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAria));
  }
}
