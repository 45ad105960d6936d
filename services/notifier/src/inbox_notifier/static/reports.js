// The reports page: the live board (today's 응대율, backlog by team, due soon), a period's
// figures and charts, the spike banner with example conversations, and CSV download.
// It reads /api/reports/* with the token the console keeps; spikes arrive over SSE too.

import { Api } from "./api.js";
import { $, fill, formatDuration, h } from "./dom.js";
import { categoryLabel, getLang, label, loadChannels, setLang } from "./i18n.js";
import { horizontalBars, lineChart, PALETTE, stackedBars } from "./charts.js";

const TOKEN_KEY = "inbox.token";
const LANG_KEY = "inbox.lang";
const DAYS_KEY = "inbox.reports.days";
const LIVE_REFRESH_MS = 15_000;

const STRINGS = {
  ko: {
    title: "리포트",
    back: "상담함으로",
    "period.today": "오늘",
    "period.week": "최근 7일",
    "period.month": "최근 30일",
    csv: "CSV 내려받기",
    lang: "English",
    "live.title": "실시간 현황",
    "live.rate": "오늘 응대율",
    "live.rate_detail": "{responded} / {created}건 응답",
    "live.open": "미해결",
    "live.pending": "대기",
    "live.breached": "SLA 초과",
    "live.due_hour": "1시간 내 마감",
    "live.arrivals": "최근 1시간 접수",
    "live.usual": "평소 {usual}건",
    "live.backlog": "팀별 미처리",
    "live.due": "1시간 내 마감",
    "live.none": "없음",
    "live.bot": "봇 응답 {n}건",
    "table.team": "팀",
    "summary.title": "기간 요약",
    "summary.created": "접수",
    "summary.resolved": "해결",
    "summary.frt": "첫 응답 중앙값",
    "summary.frt_p90": "90%: {time}",
    "summary.sla": "SLA 준수율",
    "summary.sla_detail": "첫 응답 {n}건 중",
    "summary.resolution": "해결 시간 중앙값",
    "summary.bot": "봇 자동 응답",
    "chart.volume": "유형별 문의 추이",
    "chart.frt": "첫 응답 시간 (중앙값)",
    "chart.sla": "SLA 준수율",
    "chart.channel": "채널별 문의",
    "agents.title": "상담원별 (관리자)",
    "agents.agent": "상담원",
    "agents.first": "첫 응답",
    "agents.median": "중앙값",
    "agents.sla": "SLA 준수",
    "agents.resolved": "해결",
    spike: "{what} 문의 급증: 최근 {minutes}분 {count}건 (평소 {baseline}건)",
    "spike.examples": "예시",
    "dimension.product": "상품 «{key}»",
    error: "리포트를 불러오지 못했습니다: {message}",
  },
  en: {
    title: "Reports",
    back: "Back to the inbox",
    "period.today": "Today",
    "period.week": "Last 7 days",
    "period.month": "Last 30 days",
    csv: "Download CSV",
    lang: "한국어",
    "live.title": "Live",
    "live.rate": "Today's response rate",
    "live.rate_detail": "{responded} of {created} answered",
    "live.open": "Open",
    "live.pending": "Pending",
    "live.breached": "SLA breached",
    "live.due_hour": "Due within the hour",
    "live.arrivals": "Arrivals, last hour",
    "live.usual": "usually {usual}",
    "live.backlog": "Backlog by team",
    "live.due": "Due within the hour",
    "live.none": "None",
    "live.bot": "{n} answered by the bot",
    "table.team": "Team",
    "summary.title": "Period",
    "summary.created": "Created",
    "summary.resolved": "Resolved",
    "summary.frt": "Median first response",
    "summary.frt_p90": "90%: {time}",
    "summary.sla": "Within SLA",
    "summary.sla_detail": "of {n} first responses",
    "summary.resolution": "Median resolution",
    "summary.bot": "Bot answers",
    "chart.volume": "Questions by category",
    "chart.frt": "First response time (median)",
    "chart.sla": "Within SLA",
    "chart.channel": "By channel",
    "agents.title": "By agent (admins)",
    "agents.agent": "Agent",
    "agents.first": "First responses",
    "agents.median": "Median",
    "agents.sla": "Within SLA",
    "agents.resolved": "Resolved",
    spike: "{what} questions spiking: {count} in the last {minutes} min (usually {baseline})",
    "spike.examples": "Examples",
    "dimension.product": "product «{key}»",
    error: "Could not load the reports: {message}",
  },
};

function r(key, vars = {}) {
  const text = STRINGS[getLang()]?.[key] ?? STRINGS.ko[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

const category = categoryLabel;
const percent = (share) => (share === null || share === undefined ? "—" : `${Math.round(share * 1000) / 10}%`);
const duration = (s) => (s === null || s === undefined ? "—" : formatDuration(s * 1000));
const seoulDate = (ms) => new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Seoul" }).format(new Date(ms));

function card(title, value, detail, { tone = "" } = {}) {
  return h("div", { class: `card ${tone}` }, h("span", { class: "card-title" }, title), h("strong", {}, value), detail ? h("span", { class: "muted" }, detail) : null);
}

class ReportsPage {
  constructor(api, agent) {
    this.api = api;
    this.agent = agent;
    this.days = Number(localStorage.getItem(DAYS_KEY)) || 7;
    this.data = null;
  }

  range() {
    const to = seoulDate(Date.now());
    const from = seoulDate(Date.now() - (this.days - 1) * 86_400_000);
    return { from, to };
  }

  async get(path, params) {
    return this.api.request("GET", `${path}?${new URLSearchParams(params)}`);
  }

  async load() {
    const range = this.range();
    const interval = this.days === 1 ? "hour" : "day";
    try {
      const [summary, volume, frt, sla, live] = await Promise.all([
        this.get("/api/reports/summary", range),
        this.get("/api/reports/timeseries", { ...range, interval, by: "category", metric: "created" }),
        this.get("/api/reports/timeseries", { ...range, interval, by: "all", metric: "first_response_median_s" }),
        this.get("/api/reports/timeseries", { ...range, interval, by: "all", metric: "within_sla" }),
        this.get("/api/reports/live", {}),
      ]);
      this.data = { summary, volume, frt, sla, live };
      $("#error").textContent = "";
    } catch (err) {
      $("#error").textContent = r("error", { message: err.message });
      return;
    }
    this.render();
  }

  async refreshLive() {
    try {
      this.data.live = await this.get("/api/reports/live", {});
      this.renderLive();
    } catch {
      // the next refresh tries again
    }
  }

  render() {
    if (!this.data) return;
    for (const el of document.querySelectorAll("[data-r]")) el.textContent = r(el.dataset.r);
    document.title = `${r("title")} — ${getLang() === "ko" ? "통합 상담함" : "Omnichannel inbox"}`;
    for (const b of document.querySelectorAll("#period button")) {
      b.setAttribute("aria-pressed", String(Number(b.dataset.days) === this.days));
    }
    this.renderLive();
    this.renderSummary();
    this.renderCharts();
  }

  renderLive() {
    const live = this.data.live;
    const today = live.today;
    fill(
      $("#live-cards"),
      card(r("live.rate"), percent(today.response_rate), r("live.rate_detail", today), { tone: "accent" }),
      card(r("live.open"), live.open, today.bot_answered ? r("live.bot", { n: today.bot_answered }) : null),
      card(r("live.pending"), live.pending),
      card(r("live.breached"), live.breached, null, { tone: live.breached ? "bad" : "" }),
      card(r("live.due_hour"), live.due_within_hour, null, { tone: live.due_within_hour ? "warn" : "" }),
      card(r("live.arrivals"), live.arrivals_last_hour, r("live.usual", { usual: live.usual_last_hour })),
    );
    const teams = Object.entries(live.by_team);
    fill(
      $("#backlog"),
      h("thead", {}, h("tr", {}, h("th", {}, r("table.team")), h("th", {}, r("live.open")), h("th", {}, r("live.pending")), h("th", {}, r("live.breached")))),
      h("tbody", {}, teams.length ? teams.map(([team, v]) => h("tr", {}, h("td", {}, label("team", team)), h("td", {}, v.open), h("td", {}, v.pending), h("td", { class: v.breached ? "bad" : "" }, v.breached))) : h("tr", {}, h("td", { colspan: 4, class: "muted" }, r("live.none")))),
    );
    fill(
      $("#due-soon"),
      live.due_soon.length
        ? live.due_soon.map((d) => h("li", {}, h("a", { href: `/#/c/${encodeURIComponent(d.id)}` }, `#${d.number ?? ""} ${d.subject ?? ""}`), h("span", { class: "muted" }, ` ${label("team", d.team)} · ${formatDuration(Date.parse(d.due) - Date.now())}`)))
        : h("li", { class: "muted" }, r("live.none")),
    );
    const banner = $("#spikes");
    banner.hidden = live.spikes.length === 0;
    fill(
      banner,
      live.spikes.map((spike) =>
        h(
          "div",
          { class: "spike", dataset: { key: spike.key } },
          h("strong", {}, "⚠ "),
          r("spike", {
            what: spike.dimension === "product" ? r("dimension.product", { key: spike.key }) : category(spike.key),
            minutes: Math.round(spike.window_s / 60),
            count: spike.count,
            baseline: spike.baseline,
          }),
          h("span", { class: "examples" }, ` ${r("spike.examples")}: `, spike.examples.map((id, i) => h("a", { href: `/#/c/${encodeURIComponent(id)}`, class: "example" }, `${i + 1}`))),
        ),
      ),
    );
  }

  renderSummary() {
    const s = this.data.summary;
    $("#range").textContent = `${s.from.slice(0, 10)} – ${seoulDate(Date.parse(s.to) - 1000)}`;
    fill(
      $("#summary-cards"),
      card(r("summary.created"), s.created),
      card(r("summary.resolved"), s.resolved),
      card(r("summary.frt"), duration(s.first_response.median_s), r("summary.frt_p90", { time: duration(s.first_response.p90_s) })),
      card(r("summary.sla"), percent(s.first_response.within_sla), r("summary.sla_detail", { n: s.first_response.count })),
      card(r("summary.resolution"), duration(s.resolution.median_s)),
      card(r("summary.bot"), s.bot_answered.count, percent(s.bot_answered.share)),
    );
    const section = $("#agents-section");
    section.hidden = !s.by_agent;
    if (s.by_agent) {
      fill(
        $("#agents"),
        h("thead", {}, h("tr", {}, ["agents.agent", "agents.first", "agents.median", "agents.sla", "agents.resolved"].map((k) => h("th", {}, r(k))))),
        h("tbody", {}, s.by_agent.map((a) => h("tr", {}, h("td", {}, a.agent), h("td", {}, a.first_responses), h("td", {}, duration(a.first_response_median_s)), h("td", {}, percent(a.within_sla)), h("td", {}, a.resolved)))),
      );
    }
  }

  bucketLabel(start) {
    return this.days === 1 ? `${start.slice(11, 13)}${getLang() === "ko" ? "시" : "h"}` : start.slice(5, 10).replace("-", "/");
  }

  renderCharts() {
    const { summary, volume, frt, sla } = this.data;
    const keys = Object.keys(summary.by_category);
    const colors = Object.fromEntries(keys.map((k, i) => [k, PALETTE[i % PALETTE.length]]));
    const series = volume.buckets.map((b) => ({ label: this.bucketLabel(b.start), values: b.counts }));
    fill($("#chart-volume"), stackedBars(series, keys, { colors }));
    fill($("#legend-volume"), keys.map((k) => h("span", { class: "legend-item" }, h("i", { style: `background:${colors[k]}` }), `${category(k)} ${summary.by_category[k].created}`)));
    const points = (ts) => ts.buckets.map((b) => ({ label: this.bucketLabel(b.start), value: b.counts.all ?? null }));
    fill($("#chart-frt"), lineChart(points(frt), { format: (v) => duration(v), least: 60 }));
    fill($("#chart-sla"), lineChart(points(sla), { format: (v) => percent(v), max: 1, color: PALETTE[2] }));
    const channels = Object.entries(summary.by_channel).map(([k, v]) => ({ label: label("channel", k), value: v.created }));
    fill($("#chart-channel"), horizontalBars(channels, { color: PALETTE[1] }));
  }

  async downloadCsv() {
    const range = this.range();
    const resp = await fetch(`/api/reports/summary?${new URLSearchParams({ ...range, format: "csv" })}`, {
      headers: { Authorization: `Bearer ${this.api.token}` },
    });
    if (!resp.ok) {
      $("#error").textContent = r("error", { message: `HTTP ${resp.status}` });
      return;
    }
    const url = URL.createObjectURL(await resp.blob());
    const a = h("a", { href: url, download: `report-${range.from}-${range.to}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  listenForSpikes() {
    const params = new URLSearchParams({ access_token: this.api.token, types: "spike.detected" });
    const source = new EventSource(`/api/events?${params}`);
    source.addEventListener("spike.detected", () => this.refreshLive());
  }
}

async function main() {
  setLang(localStorage.getItem(LANG_KEY) || "ko");
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) {
    location.href = "/";
    return;
  }
  const api = new Api(token);
  let me;
  try {
    me = await api.me();
  } catch (err) {
    if (err.status === 401) location.href = "/";
    $("#error").textContent = r("error", { message: err.message });
    return;
  }
  $("#agent").textContent = me.agent;
  await loadChannels(api);
  const page = new ReportsPage(api, me.agent);
  window.reportsPage = page; // for the browser test and the curious
  for (const b of document.querySelectorAll("#period button")) {
    b.addEventListener("click", () => {
      page.days = Number(b.dataset.days);
      localStorage.setItem(DAYS_KEY, String(page.days));
      page.load();
    });
  }
  $("#csv").addEventListener("click", () => page.downloadCsv());
  $("#lang").addEventListener("click", () => {
    const next = getLang() === "ko" ? "en" : "ko";
    localStorage.setItem(LANG_KEY, next);
    setLang(next);
    page.render();
  });
  await page.load();
  page.listenForSpikes();
  setInterval(() => page.refreshLive(), LIVE_REFRESH_MS);
}

main();
