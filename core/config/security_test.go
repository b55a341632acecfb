package config

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// Security settings of the config (docs/RELIABILITY.md §4).

// TestSecurityAdminListenerLoopbackByDefault: with no listen section the
// admin listener (admin API, /metrics, pprof) binds to loopback only.
func TestSecurityAdminListenerLoopbackByDefault(t *testing.T) {
	c, err := Parse("t.yaml", []byte("providers: [{name: p, base_url: \"http://127.0.0.1:1/v1\"}]\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"listen.admin": c.Listen.Admin, "listen.api": c.Listen.API} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s %q: %v", name, addr, err)
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.IsLoopback() {
			t.Fatalf("%s defaults to %q, not a loopback address", name, addr)
		}
	}
}

// TestSecurityBaseURL: provider base URLs may not name link-local or cloud
// metadata addresses (or a non-http scheme) unless allow_link_local is set;
// loopback and private networks stay allowed.
func TestSecurityBaseURL(t *testing.T) {
	check := func(base string, allow bool, want string) {
		t.Helper()
		c := valid()
		c.Providers[0].BaseURL = base
		c.Providers[0].AllowLinkLocal = allow
		err := c.Validate()
		switch {
		case want == "" && err != nil:
			t.Fatalf("%q (allow %v): unexpected error %v", base, allow, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Fatalf("%q (allow %v): error %v, want %q", base, allow, err, want)
		}
	}
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data",
		"http://169.254.0.1:8000/v1",
		"http://[fe80::1]/v1",
		"http://[fe80::1%25eth0]/v1",
		"http://[::ffff:169.254.169.254]/v1",
		"http://[fd00:ec2::254]/v1",
		"http://100.100.100.200/v1",
		"http://metadata.google.internal/computeMetadata/v1",
		"http://METADATA.google.internal./v1",
		"http://metadata/v1",
		"http://instance-data.ec2.internal/v1",
		"http://2852039166/v1",          // 169.254.169.254 as one decimal number
		"http://0xa9.0xfe.0xa9.0xfe/v1", // and in hex
		"http://0251.0376.0251.0376/v1", // and in octal
	} {
		check(u, false, "allow_link_local")
		check(u, true, "")
	}
	for _, u := range []string{"file:///etc/passwd", "gopher://127.0.0.1/", "ftp://10.0.0.1/", "//example.com/v1", "http:///v1"} {
		check(u, false, "must be an http(s) URL")
		check(u, true, "must be an http(s) URL")
	}
	for _, u := range []string{
		"http://127.0.0.1:8000/v1", "http://[::1]:11434/v1", "http://localhost:11434/v1",
		"http://10.0.0.12:8000/v1", "http://192.168.1.5/v1", "http://172.16.0.1/v1",
		"https://api.openai.com/v1", "https://1.2.3.4/v1", "https://a1.b2.example/v1",
	} {
		check(u, false, "")
	}
}

// TestSecurityGossipNeedsKey: an enabled cluster without a gossip key is
// refused unless insecure is said out loud.
func TestSecurityGossipNeedsKey(t *testing.T) {
	c := valid()
	c.Cluster.Enabled = true
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.secret_key is required") {
		t.Fatalf("cluster without secret_key: %v", err)
	}
	c.Cluster.Insecure = true
	if err := c.Validate(); err != nil {
		t.Fatalf("insecure cluster: %v", err)
	}
	c.Cluster.Insecure, c.Cluster.SecretKey = false, "MDEyMzQ1Njc4OWFiY2RlZg=="
	if err := c.Validate(); err != nil {
		t.Fatalf("cluster with a key: %v", err)
	}
}

// FuzzForbiddenHost: any host string is judged without a panic, and every
// address that parses as link-local is refused.
func FuzzForbiddenHost(f *testing.F) {
	for _, h := range []string{"169.254.169.254", "fe80::1%eth0", "::ffff:169.254.1.1", "2852039166", "0xa9.0xfe.0xa9.0xfe",
		"metadata.google.internal.", "api.openai.com", "10.0.0.1", "", ".", "0x", "1..2"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, host string) {
		why := forbiddenHost(host)
		if a, err := netip.ParseAddr(host); err == nil && (a.Unmap().IsLinkLocalUnicast() || a.Unmap().IsLinkLocalMulticast()) && why == "" {
			t.Fatalf("link-local %q allowed", host)
		}
	})
}
