// Command kcp is a multi-call binary holding a real kube-apiserver, a real
// kube-controller-manager and a real etcd, the processes of the tests' local control
// plane (envtest style, plus the controllers a test can observe):
//
//	kcp apiserver          [kube-apiserver flags...]
//	kcp controller-manager [kube-controller-manager flags...]
//	kcp etcd               [etcd flags...]
//	kcp version
//	kcp freeports N   (prints N distinct free TCP ports on 127.0.0.1, one a line)
//
// One binary instead of three because the three share most of their code (client-go,
// apimachinery, component-base, etcd's client): a single link of the shared packages
// saves minutes and hundreds of megabytes in the cache on a cold build, and the
// controller-manager adds only its own controller packages to the build.
//
// Each command still runs as a process of its own rather than as goroutines of one
// process: both Kubernetes commands own process-wide state (the global flag set, klog,
// the legacy Prometheus registry, where a second registration of the same metric
// panics), and a separate controller-manager keeps running while restart-apiserver
// restarts only the API server, then reconnects, as it does in a cluster. The price is
// one more Go runtime (a few megabytes); the controller-manager's informer caches,
// the bulk of its memory, would cost the same in one process.
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
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

const usage = "usage: kcp apiserver|controller-manager|etcd|version|freeports [args...]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "apiserver":
		// The same two lines as cmd/kube-apiserver/apiserver.go, with the
		// subcommand word removed from the arguments cobra parses.
		command := apiserver.NewAPIServerCommand()
		command.SetArgs(os.Args[2:])
		os.Exit(cli.Run(command))
	case "controller-manager":
		// The same two lines as cmd/kube-controller-manager/controller-manager.go.
		command := controllermanager.NewControllerManagerCommand()
		command.SetArgs(os.Args[2:])
		os.Exit(cli.Run(command))
	case "etcd":
		// etcdmain.Main parses args[1:], exactly as etcd's own main passes os.Args.
		etcdmain.Main(append([]string{"etcd"}, os.Args[2:]...))
	case "version":
		kube := kubeversion.Get().GitVersion
		fmt.Printf("kube-apiserver %s\nkube-controller-manager %s\netcd %s\n", kube, kube, version.Version)
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
