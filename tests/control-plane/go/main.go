// Command kcp is a multi-call binary holding a real kube-apiserver and a real etcd,
// the two processes of the tests' local control plane (envtest style):
//
//	kcp apiserver [kube-apiserver flags...]
//	kcp etcd      [etcd flags...]
//	kcp version
//	kcp freeports N   (prints N distinct free TCP ports on 127.0.0.1, one a line)
//
// One binary instead of two because the apiserver already links most of etcd's
// client and server packages: a single link of the shared code saves minutes and
// about a hundred megabytes in the cache on a cold build.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	_ "time/tzdata" // as upstream kube-apiserver: CronJob time zones without a system tz database

	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // as upstream: --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // as upstream: client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // as upstream: version metric
	kubeversion "k8s.io/component-base/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

const usage = "usage: kcp apiserver|etcd|version|freeports [args...]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "apiserver":
		// The same two lines as cmd/kube-apiserver/apiserver.go, with the
		// subcommand word removed from the arguments cobra parses.
		command := app.NewAPIServerCommand()
		command.SetArgs(os.Args[2:])
		os.Exit(cli.Run(command))
	case "etcd":
		// etcdmain.Main parses args[1:], exactly as etcd's own main passes os.Args.
		etcdmain.Main(append([]string{"etcd"}, os.Args[2:]...))
	case "version":
		fmt.Printf("kube-apiserver %s\netcd %s\n", kubeversion.Get().GitVersion, version.Version)
	case "freeports":
		if err := freePorts(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kcp freeports:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}

// freePorts prints n ports that were free on 127.0.0.1 a moment ago. All n listeners
// are held open together so the ports are distinct, then closed for the servers to
// take. Another process can still grab one in between; the up script retries then.
func freePorts(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want exactly one argument, the number of ports")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 16 {
		return fmt.Errorf("bad count %q (1..16)", args[0])
	}
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
	}
	for _, l := range listeners {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
