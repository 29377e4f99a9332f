// The task board: an MCP Apps view (extension io.modelcontextprotocol/ui, specification 2026-01-26).
//
// A small bridge of our own, written to the specification, rather than the
// official App class: this whole file is a few kilobytes, where the App bundled
// with its dependencies is over 500 KB (see README, "The task board").
// It speaks JSON-RPC 2.0 over postMessage with the host that framed it; every
// tool call travels over the host's own authenticated MCP connection, so the
// board never holds a token.
"use strict";

(function () {
  const PROTOCOL_VERSION = "2026-01-26";
  const INLINE_ROWS = 5; // tasks shown per group inline, to stay under 500 px without a scroll area
  const STATUSES = [
    ["todo", "To do"],
    ["in_progress", "In progress"],
    ["done", "Done"],
  ];

  // --- The bridge -------------------------------------------------------------------

  const pending = new Map();
  let nextId = 1;

  function send(message) {
    // The host's origin is unknown to a sandboxed srcdoc frame; only our parent receives it.
    window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  }

  function request(method, params) {
    const id = nextId++;
    send({ id, method, params });
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  function notify(method, params) {
    send({ method, params });
  }

  const requestHandlers = {
    ping: () => ({}),
    "ui/resource-teardown": () => ({}),
  };
  const notificationHandlers = {
    "ui/notifications/tool-input": (params) => {
      state.toolInput = (params && params.arguments) || {};
    },
    "ui/notifications/tool-input-partial": () => {},
    "ui/notifications/tool-result": (params) => showToolResult(params),
    "ui/notifications/tool-cancelled": (params) =>
      showError("The request was cancelled" + (params && params.reason ? ": " + params.reason : ".")),
    "ui/notifications/host-context-changed": (params) => applyHostContext(params || {}),
  };

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return; // only the host that framed us
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if ("id" in message && !("method" in message)) {
      const call = pending.get(message.id);
      if (!call) return;
      pending.delete(message.id);
      if (message.error) call.reject(new Error(message.error.message || "The host refused the request."));
      else call.resolve(message.result);
    } else if ("id" in message) {
      const handler = requestHandlers[message.method];
      if (handler) send({ id: message.id, result: handler(message.params) });
      else send({ id: message.id, error: { code: -32601, message: "Method not found: " + message.method } });
    } else {
      const handler = notificationHandlers[message.method];
      if (handler) handler(message.params);
    }
  });

  // --- What the board knows ---------------------------------------------------------

  const state = {
    tasks: null, // null until the first list arrives
    toolInput: {},
    listArguments: null, // the filters of the list_tasks call the board shows
    host: { capabilities: {}, context: {} },
    changes: [], // what the person did here, for the model (ui/update-model-context)
    doneOpen: false, // whether the person unfolded the done tasks
  };

  const $ = (id) => document.getElementById(id);

  function canCallTools() {
    return Boolean(state.host.capabilities.serverTools);
  }

  async function callTool(name, args) {
    const result = await request("tools/call", { name, arguments: args });
    if (result && result.isError) throw new Error(errorText(result) || name + " failed.");
    return result || {};
  }

  function errorText(result) {
    const text = (result.content || []).filter((c) => c.type === "text").map((c) => c.text).join(" ");
    // The SDK's prefix speaks to developers; the person needs the reason.
    return text.replace(/^Error executing tool [\w-]+: /, "");
  }

  function showToolResult(result) {
    if (!result) return;
    if (result.isError) {
      showError(errorText(result) || "The tool failed.");
      if (state.tasks === null) setTasks([]);
      return;
    }
    const data = result.structuredContent || {};
    if (Array.isArray(data.tasks)) {
      const { cursor, ...filters } = state.toolInput || {};
      state.listArguments = filters;
      setTasks(data.tasks, data.next_cursor);
    } else if (data.id && data.title) {
      // create_task, update_task or complete_task: show the whole board with this task in it.
      mergeTask(data);
      if (canCallTools()) refresh();
    }
  }

  function mergeTask(task) {
    const tasks = (state.tasks || []).filter((t) => t.id !== task.id);
    tasks.unshift(task);
    setTasks(tasks, state.nextCursor);
  }

  function setTasks(tasks, nextCursor) {
    state.tasks = tasks;
    state.nextCursor = nextCursor || null;
    render();
  }

  async function refresh() {
    const args = { limit: 100, ...(state.listArguments || {}) };
    try {
      const result = await callTool("list_tasks", args);
      const data = result.structuredContent || {};
      setTasks(data.tasks || [], data.next_cursor);
    } catch (error) {
      showError(error.message);
    }
  }

  // --- Host context: theme, styles, fonts, size, insets, locale ------------------------

  function applyHostContext(partial) {
    const context = (state.host.context = { ...state.host.context, ...partial });
    const root = document.documentElement;
    if (partial.theme) root.dataset.theme = partial.theme === "dark" ? "dark" : "light";
    const variables = partial.styles && partial.styles.variables;
    if (variables) {
      for (const [name, value] of Object.entries(variables)) {
        if (name.startsWith("--") && value) root.style.setProperty(name, value);
      }
    }
    const fonts = partial.styles && partial.styles.css && partial.styles.css.fonts;
    if (fonts) {
      let style = $("host-fonts");
      if (!style) {
        style = document.createElement("style");
        style.id = "host-fonts";
        document.head.appendChild(style);
      }
      style.textContent = fonts;
    }
    if (partial.safeAreaInsets) {
      for (const side of ["top", "right", "bottom", "left"]) {
        root.style.setProperty("--tg-inset-" + side, (partial.safeAreaInsets[side] || 0) + "px");
      }
    }
    if (partial.locale) root.lang = partial.locale;
    const dimensions = context.containerDimensions || {};
    document.body.style.maxWidth = dimensions.maxWidth ? dimensions.maxWidth + "px" : "";
    if ("locale" in partial || "timeZone" in partial || "displayMode" in partial || "availableDisplayModes" in partial) {
      if (state.tasks !== null) render();
    }
  }

  function dueText(iso) {
    const context = state.host.context;
    const options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
    if (context.timeZone) options.timeZone = context.timeZone;
    try {
      return new Intl.DateTimeFormat(context.locale || undefined, options).format(new Date(iso));
    } catch (error) {
      return new Date(iso).toLocaleString();
    }
  }

  // --- Drawing ------------------------------------------------------------------------

  function render() {
    const groups = $("groups");
    groups.replaceChildren();
    const tasks = state.tasks || [];
    if (tasks.length === 0) {
      const empty = document.createElement("p");
      empty.className = "muted";
      empty.textContent = "No tasks here. Add one above.";
      groups.append(empty);
    }
    const fullscreen = state.host.context.displayMode === "fullscreen";
    for (const [status, heading] of STATUSES) {
      const inGroup = tasks.filter((task) => task.status === status);
      if (inGroup.length === 0) continue;
      const section = document.createElement("section");
      section.setAttribute("aria-labelledby", "group-" + status);
      const title = document.createElement("h2");
      title.id = "group-" + status;
      title.textContent = heading + " (" + inGroup.length + ")";
      const list = document.createElement("ul");
      list.className = "tasks";
      const shown = fullscreen ? inGroup : inGroup.slice(0, INLINE_ROWS);
      for (const task of shown) list.append(taskRow(task));
      if (status === "done" && !fullscreen) {
        // Done tasks fold away, to keep the open ones in view without a scroll area.
        const details = document.createElement("details");
        details.open = state.doneOpen;
        details.addEventListener("toggle", () => {
          state.doneOpen = details.open;
        });
        const summary = document.createElement("summary");
        summary.id = title.id;
        summary.textContent = heading + " (" + inGroup.length + ")";
        details.append(summary, list);
        section.append(details);
      } else {
        section.append(title, list);
      }
      if (shown.length < inGroup.length) section.append(moreLine(inGroup.length - shown.length));
      groups.append(section);
    }
    if (state.nextCursor) groups.append(moreLine(null));
    $("refresh").hidden = !canCallTools();
    $("add-form").hidden = !canCallTools();
  }

  function moreLine(count) {
    const line = document.createElement("p");
    line.className = "more muted";
    line.textContent = count === null ? "There are more tasks than shown here." : count + " more not shown.";
    const modes = state.host.context.availableDisplayModes || [];
    if (modes.includes("fullscreen")) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "quiet";
      button.textContent = "Show all";
      button.addEventListener("click", () =>
        request("ui/request-display-mode", { mode: "fullscreen" }).catch((error) => showError(error.message)),
      );
      line.append(" ", button);
    } else {
      line.append(" Ask in the conversation to see them.");
    }
    return line;
  }

  function taskRow(task) {
    const item = document.createElement("li");
    item.className = "task" + (task.status === "done" ? " is-done" : "");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = "task-" + task.id;
    box.checked = task.status === "done";
    box.disabled = !canCallTools();
    box.addEventListener("change", () => toggle(task, box));
    const label = document.createElement("label");
    label.htmlFor = box.id;
    label.textContent = task.title;
    item.append(box, label);
    const meta = [];
    if (task.priority === "high") meta.push(["High priority", ""]);
    if (task.due_at) {
      const overdue = task.status !== "done" && new Date(task.due_at) < new Date();
      meta.push([(overdue ? "Overdue: was due " : "Due ") + dueText(task.due_at), overdue ? "overdue" : ""]);
    }
    // Who added it, when an app did: the person did the others themself.
    if (task.created_by_app && task.created_by_app.name) meta.push(["added by " + task.created_by_app.name, "by-app"]);
    if (meta.length) {
      const line = document.createElement("span");
      line.className = "meta";
      line.id = "meta-" + task.id;
      meta.forEach(([text, className], index) => {
        if (index) line.append(" · ");
        const part = document.createElement("span");
        part.textContent = text;
        if (className) part.className = className;
        line.append(part);
      });
      box.setAttribute("aria-describedby", line.id);
      item.append(line);
    }
    return item;
  }

  // --- What the person does -------------------------------------------------------------

  async function toggle(task, box) {
    clearError();
    box.disabled = true;
    const done = box.checked;
    try {
      const result = done
        ? await callTool("complete_task", { task_id: task.id })
        : await callTool("update_task", { task_id: task.id, status: "todo" });
      mergeTask(result.structuredContent);
      // The list is drawn again: keep the keyboard where it was (the task may be folded into Done).
      const again = $(box.id);
      if (again) again.focus();
      const fold = document.querySelector("details > summary");
      if (document.activeElement !== again && fold) fold.focus();
      say((done ? "Marked done: " : "Reopened: ") + task.title);
      tellTheModel((done ? "Marked done" : "Reopened") + " “" + task.title + "” (id " + task.id + ")");
    } catch (error) {
      box.checked = !done;
      box.disabled = false;
      box.focus();
      showError("Could not change “" + task.title + "”: " + error.message);
    }
  }

  async function add() {
    clearError();
    const input = $("new-title");
    const title = input.value.trim();
    if (!title) {
      showError("Write what needs doing, then Add.");
      input.focus();
      return;
    }
    const button = $("add");
    if (button.disabled) return; // one at a time
    button.disabled = true;
    try {
      const result = await callTool("create_task", { title });
      mergeTask(result.structuredContent);
      input.value = "";
      say("Added: " + title);
      tellTheModel("Added “" + title + "” (id " + result.structuredContent.id + ")");
    } catch (error) {
      showError("Could not add “" + title + "”: " + error.message);
    } finally {
      button.disabled = false;
      input.focus();
    }
  }

  $("add").addEventListener("click", add);
  $("new-title").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      add();
    }
  });

  $("refresh").addEventListener("click", () => {
    clearError();
    refresh();
  });

  function tellTheModel(change) {
    // Each update replaces the previous one, so it carries every change made in this board.
    state.changes.push(change);
    if (!state.host.capabilities.updateModelContext) return;
    const text = "In the Taskgate task board, the user: " + state.changes.join("; ") + ".";
    request("ui/update-model-context", { content: [{ type: "text", text }] }).catch(() => {});
  }

  function say(text) {
    $("notice").textContent = text;
  }

  function showError(text) {
    const error = $("error");
    error.textContent = text;
    error.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  // --- Size: the host sizes the frame to the board ----------------------------------------

  let lastSize = "";
  function reportSize() {
    // The body, not the document: the document is as tall as the frame the host gives us.
    const box = document.body.getBoundingClientRect();
    const width = Math.ceil(box.width);
    const height = Math.ceil(box.height);
    const size = width + "x" + height;
    if (size === lastSize) return;
    lastSize = size;
    notify("ui/notifications/size-changed", { width, height });
  }

  // --- Start: ui/initialize, then ui/notifications/initialized --------------------------

  async function start() {
    try {
      const result = await request("ui/initialize", {
        protocolVersion: PROTOCOL_VERSION,
        appInfo: { name: "taskgate-task-board", version: "1.0.0" },
        appCapabilities: { availableDisplayModes: ["inline", "fullscreen"] },
      });
      state.host.capabilities = result.hostCapabilities || {};
      applyHostContext(result.hostContext || {});
      notify("ui/notifications/initialized", {});
    } catch (error) {
      showError("This board could not connect to the conversation: " + error.message);
    }
    if (state.tasks !== null) render();
    new ResizeObserver(reportSize).observe(document.body);
    reportSize();
  }

  start();
})();
