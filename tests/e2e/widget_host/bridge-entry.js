// The official MCP Apps host bridge, bundled for the test host page (tests/e2e/test_widget_board.py).
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

window.McpAppsHost = { AppBridge, PostMessageTransport };
