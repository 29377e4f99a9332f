// A host of the MCP Apps standard, as small as a test can have it: the official AppBridge
// (bundled in /app-bridge.js), the view in a sandboxed iframe under the specification's
// default CSP, and the view's tools/call handed to the test (window.callTool), which
// sends it to the live /mcp with the token only the test holds.
"use strict";

// MCP Apps specification: the policy a host applies when the resource declares no domains.
const DEFAULT_CSP = [
  "default-src 'none'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "media-src 'self' data:",
  "connect-src 'none'",
].join("; ");

window.host = {
  log: { initialized: false, sizes: [], modelContext: [], toolCalls: [], started: 0 },
  bridge: null,

  async mount(html, hostContext) {
    const { AppBridge, PostMessageTransport } = window.McpAppsHost;
    const log = this.log;
    const iframe = document.getElementById("board");
    const bridge = new AppBridge(
      null,
      { name: "taskgate-test-host", version: "1.0.0" },
      { serverTools: {}, updateModelContext: { text: {} }, logging: {} },
      { hostContext },
    );
    bridge.oninitialized = () => {
      log.initialized = true;
    };
    bridge.oncalltool = async (params) => {
      log.toolCalls.push({ name: params.name, arguments: params.arguments || {} });
      return window.callTool(params.name, params.arguments || {});
    };
    bridge.onsizechange = ({ width, height }) => {
      log.sizes.push({ width, height });
      if (height) iframe.style.height = height + "px";
    };
    bridge.onupdatemodelcontext = async (params) => {
      log.modelContext.push(params);
      return {};
    };
    // Connect before the view loads, or its ui/initialize is lost.
    await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
    this.bridge = bridge;
    this.context = hostContext;
    log.started = performance.now();
    iframe.srcdoc = html.replace(/<head>/i, `<head><meta http-equiv="Content-Security-Policy" content="${DEFAULT_CSP}">`);
  },

  // What a host does when the model calls a tool bound to the view: the input, then the result.
  async showToolCall(name, args) {
    await this.bridge.sendToolInput({ arguments: args });
    const result = await window.callTool(name, args);
    await this.bridge.sendToolResult(result);
    return result;
  },

  setTheme(theme) {
    document.body.classList.toggle("dark", theme === "dark");
    // The whole context: the bridge sends the view only what changed (host-context-changed).
    this.context = { ...this.context, theme };
    this.bridge.setHostContext(this.context);
  },
};
