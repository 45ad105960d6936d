// The agent API (JSON over fetch) and the event stream (SSE with Last-Event-ID resume).
// Nothing here touches the DOM.

const REQUEST_TIMEOUT_MS = 20_000;

export const EVENT_TYPES = [
  "conversation.created",
  "conversation.updated",
  "message.created",
  "message.updated",
  "message.delivery_failed",
  "sla.warning",
  "sla.breached",
];

/** An error answer of the API: {code, message, errors} plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || (status === 0 ? "network_error" : "http_error");
    this.errors = body?.errors || [];
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new ApiError(0, { code: "network_error", message: String(err?.message || err) });
    }
    if (resp.status === 204) return null;
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  me() {
    return this.request("GET", "/api/me");
  }

  channels() {
    return this.request("GET", "/api/channels");
  }

  conversations(filters, cursor) {
    const params = new URLSearchParams({ limit: "100" });
    for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
    if (cursor) params.set("cursor", cursor);
    return this.request("GET", `/api/conversations?${params}`);
  }

  conversation(id) {
    return this.request("GET", `/api/conversations/${encodeURIComponent(id)}`);
  }

  reply(id, text, attachments = []) {
    const body = attachments.length > 0 ? { text, attachments } : { text };
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/reply`, body);
  }

  // --- desk: team, priority, snooze, merge, split, bulk, files ---------------------------

  setTeam(id, team) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/team`, { team });
  }

  setPriority(id, priority) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/priority`, {
      priority,
    });
  }

  snooze(id, until) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/status`, {
      status: "pending",
      until,
    });
  }

  merge(id, otherId) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/merge`, {
      other_id: otherId,
    });
  }

  split(id, messageIds) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/split`, {
      message_ids: messageIds,
    });
  }

  bulk(ids, action, fields = {}) {
    return this.request("POST", "/api/conversations/bulk", { ids, action, ...fields });
  }

  /** multipart/form-data, field `file`: the browser sets the content type and boundary. */
  async upload(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    let resp;
    try {
      resp = await fetch("/api/attachments", {
        method: "POST",
        headers: { Authorization: `Bearer ${this.token}` },
        body: form,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS * 3),
      });
    } catch (err) {
      throw new ApiError(0, { code: "network_error", message: String(err?.message || err) });
    }
    const data = await resp.json().catch(() => null);
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  note(id, text) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/notes`, { text });
  }

  assign(id, assignee, { force = false } = {}) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/assign`, {
      assignee,
      force,
    });
  }

  setStatus(id, status) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/status`, { status });
  }

  tags(id, { add = [], remove = [] }) {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/tags`, {
      add,
      remove,
    });
  }

  canned() {
    return this.request("GET", "/api/canned-responses");
  }

  preview(cannedId, conversationId, text) {
    return this.request("POST", `/api/canned-responses/${encodeURIComponent(cannedId)}/preview`, {
      conversation_id: conversationId,
      text,
    });
  }

  customer(id) {
    return this.request("GET", `/api/customers/${encodeURIComponent(id)}`);
  }
}

/**
 * The SSE stream, resumed by id after any drop.
 *
 * The `id:` of every event is the EVENTS stream sequence. The browser's EventSource resends
 * the last id itself when it reconnects; when it gives up (HTTP error, server gone) we open a
 * new one with `?last_event_id=`. Either way an id at or below the last one handled is a
 * duplicate and is dropped, so every event reaches `onEvent` exactly once.
 */
export class EventStream {
  constructor({ api, onEvent, onState, onOpen, onUnauthorized }) {
    this.api = api;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onOpen = onOpen;
    this.onUnauthorized = onUnauthorized;
    this.lastId = null;
    this.source = null;
    this.failures = 0;
    this.timer = null;
    this.opened = 0;
    this.stopped = false;
    this.reconnectNow = () => {
      if (this.source?.readyState !== EventSource.OPEN) this.#reopen(0);
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.reconnectNow);
    this.#open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.reconnectNow);
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
  }

  #open() {
    const params = new URLSearchParams({ access_token: this.api.token });
    if (this.lastId !== null) params.set("last_event_id", String(this.lastId));
    const source = new EventSource(`/api/events?${params}`);
    this.source = source;
    this.onState("connecting");
    source.onopen = () => {
      this.failures = 0;
      this.opened += 1;
      this.onState("live");
      this.onOpen({ first: this.opened === 1, resumed: this.lastId !== null });
    };
    for (const type of EVENT_TYPES) source.addEventListener(type, (e) => this.#receive(e));
    // The server dropped us for being too slow: come back from where we were.
    source.addEventListener("overflow", () => this.#reopen(0));
    source.onerror = () => {
      if (source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) {
        this.#reopen(Math.min(30_000, 1000 * 2 ** this.failures++));
      } else {
        this.onState("offline"); // the browser retries by itself, with Last-Event-ID
      }
    };
  }

  #reopen(delayMs) {
    this.source?.close();
    this.source = null;
    this.onState("offline");
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      if (this.stopped) return;
      try {
        await this.api.me();
      } catch (err) {
        if (err.status === 401) {
          this.onUnauthorized();
          return;
        }
      }
      if (!this.stopped && this.source === null) this.#open();
    }, delayMs);
  }

  #receive(e) {
    const seq = Number(e.lastEventId);
    if (!Number.isSafeInteger(seq)) return;
    if (this.lastId !== null && seq <= this.lastId) return; // already handled
    let body;
    try {
      body = JSON.parse(e.data);
    } catch {
      return;
    }
    this.lastId = seq;
    this.onEvent({ seq, type: e.type, body });
  }
}
