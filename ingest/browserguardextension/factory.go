// Package browserguardextension is a collector extension (type
// "browserguard") that keeps web pages away from an HTTP receiver that has
// no credentials, such as OTLP HTTP on a laptop's all-in-one.
//
// A receiver on 127.0.0.1 is still reachable from any page the operator
// opens: cross-site, a page can post without a preflight (text/plain, or
// no-cors), and after DNS rebinding (the attacker's name re-resolved to
// 127.0.0.1) the page is same-origin and may post JSON freely. Senders
// that are programs (SDKs, collectors, agents) send neither an Origin
// header nor a browser's Sec-Fetch-Site, and name the address they dial in
// Host; a browser always sends Origin with a POST. So, as a middleware of
// the receiver's HTTP server, the guard refuses with 403:
//
//   - a request with an Origin header not in allowed_origins (browser
//     senders, e.g. the OTel JS SDK, are listed there, as in the
//     receiver's cors settings);
//
//   - a request a browser marks Sec-Fetch-Site: cross-site or same-site
//     without an allowed Origin;
//
//   - with check_host, a Host header that is not an IP address, localhost
//     or one of allowed_hosts (DNS rebinding sends the attacker's name).
//     Off in gateway configs, where senders dial a service name.
//
//     extensions:
//     browserguard:
//     check_host: true
//     receivers:
//     otlp:
//     protocols:
//     http:
//     middlewares: [{id: browserguard}]
//     service:
//     extensions: [browserguard]
package browserguardextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

// TypeStr is the extension's type in collector configs.
const TypeStr = "browserguard"

var componentType = component.MustNewType(TypeStr)

// NewFactory returns the factory of the browserguard extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(componentType, createDefaultConfig, createExtension, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config { return &Config{} }

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newGuard(cfg.(*Config), set.Logger), nil
}
