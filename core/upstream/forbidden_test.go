package upstream

import (
	"testing"
	"time"
)

// TestDialerRefusesMetadataAddresses: after name resolution the dialer
// refuses link-local and cloud metadata addresses (a DNS name may point
// there), unless the provider allows it. The hook is called directly: no
// packet is sent anywhere.
func TestDialerRefusesMetadataAddresses(t *testing.T) {
	d := newDialer(time.Second, false)
	if d.Control == nil {
		t.Fatal("the dialer has no address check")
	}
	for _, addr := range []string{
		"169.254.169.254:80", "169.254.0.1:443", "[fe80::1]:80", "[fe80::1%eth0]:80",
		"[fd00:ec2::254]:80", "100.100.100.200:80", "[::ffff:169.254.169.254]:80",
	} {
		if err := d.Control("tcp4", addr, nil); err == nil {
			t.Errorf("%s: dial allowed", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:80", "10.0.0.5:8000", "192.168.1.2:11434", "203.0.113.7:443", "not-an-address"} {
		if err := d.Control("tcp", addr, nil); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if newDialer(time.Second, true).Control != nil {
		t.Fatal("allow_link_local still checks addresses")
	}
}
