package procscan

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/saker-sec/saker/pkg/event"
)

// Interfaces lists the addresses of this machine's network interfaces (of the network
// namespace Saker runs in), one entry per address, as a capture's interface list holds them:
// libsinsp decides with it which end of a connection is local (fd.is_server, fd.lproto ...).
func Interfaces() ([]event.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("procscan: interfaces: %w", err)
	}
	var out []event.Interface
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // the interface went away
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			in := event.Interface{Name: ifc.Name, Addr: ip}
			if ip.Is4() {
				mask, _ := netip.AddrFromSlice(net.IP(ipn.Mask).To4())
				in.Netmask = mask
				m4, a4 := mask.As4(), ip.As4()
				var b [4]byte
				for i := range b {
					b[i] = a4[i] | ^m4[i]
				}
				in.Broadcast = netip.AddrFrom4(b)
			}
			out = append(out, in)
		}
	}
	return out, nil
}
