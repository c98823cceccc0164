package sip

import (
	"fmt"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// addRoute appends a Route header per entry of route (name-addr values, top
// first: a binding's Path, RFC 3327 §6) and returns the network and the
// "host:port" of the first hop, where the request must be sent (loose routing,
// RFC 3261 §16.12.1.1: the Request-URI stays the Contact).
func addRoute(req *sipmsg.Request, route []string) (network, dest string, err error) {
	if network, dest, err = routeHop(route); err != nil {
		return "", "", err
	}
	for _, v := range route {
		req.AppendHeader(sipmsg.NewHeader("Route", v))
	}
	return network, dest, nil
}

// routeHop validates a route set and returns its first hop's network and "host:port".
func routeHop(route []string) (network, dest string, err error) {
	if len(route) == 0 {
		return "", "", fmt.Errorf("empty route set")
	}
	var first sipmsg.Uri
	for i, v := range route {
		var u sipmsg.Uri
		params := sipmsg.NewParams()
		if _, err := sipmsg.ParseAddressValue(v, &u, &params); err != nil {
			return "", "", fmt.Errorf("route %q: %w", v, err)
		}
		if u.Host == "" {
			return "", "", fmt.Errorf("route %q: no host", v)
		}
		if i == 0 {
			first = u
		}
	}
	network = targetNetwork(first)
	port := first.Port
	if port == 0 {
		port = sipmsg.DefaultPort(network)
	}
	host := first.Host
	if len(host) > 0 && host[0] != '[' && strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return network, host + ":" + strconv.Itoa(port), nil
}
