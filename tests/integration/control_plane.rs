//! Proof that the tests' local control plane is a real Kubernetes API server: CRDs
//! with OpenAPI and CEL validation, watches, RBAC, coordination Leases, and a client
//! watch that survives an API server restart on the same etcd; and that its
//! kube-controller-manager does what a cluster's does for the tests: the garbage
//! collector deletes what a deleted owner owned, a deleted namespace is emptied and
//! removed, and both go on working across an API server restart.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::support::cluster;

/// How long any single wait in these tests may take before the test fails.
const WAIT: Duration = Duration::from_secs(60);

/// How long the controller-manager may take to act. Longer than [`WAIT`]: the garbage
/// collector looks for resource types it does not watch yet (a CRD created just
/// before) only every 30 s, and the machine is shared with other builds.
const CONTROLLER_WAIT: Duration = Duration::from_secs(120);

/// A tiny CRD of the tests' own: an OpenAPI schema (types, an enum, bounds) and a CEL
/// rule with its own message.
const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.proof.apigwcompliance.io
spec:
  group: proof.apigwcompliance.io
  scope: Namespaced
  names:
    kind: Widget
    plural: widgets
    singular: widget
    listKind: WidgetList
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [mode, minReplicas, maxReplicas]
              properties:
                mode:
                  type: string
                  enum: [Observe, Enforce]
                minReplicas:
                  type: integer
                  minimum: 0
                maxReplicas:
                  type: integer
                  maximum: 10
              x-kubernetes-validations:
                - rule: self.minReplicas <= self.maxReplicas
                  message: minReplicas must not exceed maxReplicas
"#;

fn widget(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "proof.apigwcompliance.io/v1",
        "kind": "Widget",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("a Widget object")
}

/// The API server's refusal of a create: (HTTP code, message).
async fn create_refused(api: &Api<DynamicObject>, obj: &DynamicObject) -> (u16, String) {
    match api.create(&PostParams::default(), obj).await {
        Ok(created) => panic!("the API server accepted an invalid object: {created:?}"),
        Err(kube::Error::Api(status)) => (status.code, status.message),
        Err(other) => panic!("expected a refusal from the API server, got {other}"),
    }
}

#[tokio::test]
async fn kubectl_applied_crd_validates_with_openapi_schema_and_cel_rule() {
    let client = cluster::client().await;
    let ns = cluster::test_namespace(&client, "crd-validation").await;
    let crd = cluster::apply_crd_yaml(&client, WIDGET_CRD).await;
    let established = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established, "CRD conditions: {:?}", crd.status);

    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &cluster::crd_api_resource(&crd));

    // A valid object is stored, with the schema's types.
    let good = widgets
        .create(
            &PostParams::default(),
            &widget(
                "good",
                serde_json::json!({"mode": "Enforce", "minReplicas": 1, "maxReplicas": 3}),
            ),
        )
        .await
        .expect("create a valid Widget");
    assert_eq!(good.data["spec"]["maxReplicas"], 3);
    assert!(good.metadata.uid.is_some(), "stored objects get a uid");

    // OpenAPI schema: a value outside the enum ...
    let (code, message) = create_refused(
        &widgets,
        &widget(
            "bad-enum",
            serde_json::json!({"mode": "Sometimes", "minReplicas": 1, "maxReplicas": 3}),
        ),
    )
    .await;
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("spec.mode") && message.contains("Unsupported value"),
        "{message}"
    );
    // ... and a value of the wrong type.
    let (code, message) = create_refused(
        &widgets,
        &widget(
            "bad-type",
            serde_json::json!({"mode": "Observe", "minReplicas": "one", "maxReplicas": 3}),
        ),
    )
    .await;
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("spec.minReplicas") && message.contains("must be of type integer"),
        "{message}"
    );

    // CEL: the schema allows both numbers, the rule refuses the pair, with its message.
    let (code, message) = create_refused(
        &widgets,
        &widget(
            "bad-rule",
            serde_json::json!({"mode": "Observe", "minReplicas": 5, "maxReplicas": 2}),
        ),
    )
    .await;
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("minReplicas must not exceed maxReplicas"),
        "{message}"
    );

    // Only the valid one exists; kubectl sees it through discovery as users would.
    let names: Vec<String> = widgets
        .list(&Default::default())
        .await
        .expect("list Widgets")
        .items
        .into_iter()
        .filter_map(|w| w.metadata.name)
        .collect();
    assert_eq!(names, ["good"]);
    let out = cluster::kubectl(["get", "widgets", "-n", &ns, "-o", "name"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "widget.proof.apigwcompliance.io/good"
    );
}

#[tokio::test]
async fn watch_sees_a_change_made_after_it_started() {
    let client = cluster::client().await;
    let ns = cluster::test_namespace(&client, "watch").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &config_map("watched", "before"))
        .await
        .expect("create ConfigMap watched");

    let mut events = watcher(config_maps.clone(), watcher::Config::default()).boxed();
    // The initial list shows the object as it was.
    wait_for_value(&mut events, "watched", "before").await;

    // A change made now arrives as a watch event.
    config_maps
        .patch(
            "watched",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"value": "after"}})),
        )
        .await
        .expect("patch ConfigMap watched");
    wait_for_value(&mut events, "watched", "after").await;
}

#[tokio::test]
async fn credential_without_rights_is_authenticated_but_forbidden() {
    let admin = cluster::client().await;
    let ns = cluster::test_namespace(&admin, "rbac").await;
    let norights = cluster::norights_client().await;

    // Authenticated: the API server knows who it is (self-review is allowed to all).
    let review: SelfSubjectReview = Api::all(norights.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({})).expect("a SelfSubjectReview"),
        )
        .await
        .expect("create a SelfSubjectReview as norights");
    let user = review
        .status
        .and_then(|s| s.user_info)
        .expect("the review's user info");
    assert_eq!(user.username.as_deref(), Some("norights"));
    assert!(
        !user
            .groups
            .unwrap_or_default()
            .iter()
            .any(|g| g == "system:masters"),
        "the no-rights user must not be an admin"
    );

    // Forbidden: 403 from RBAC, for reading and for writing.
    let config_maps: Api<ConfigMap> = Api::namespaced(norights.clone(), &ns);
    match config_maps.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(status.message.contains("\"norights\""), "{status:?}");
        }
        other => panic!("expected 403, got {other:?}"),
    }
    match config_maps
        .create(&PostParams::default(), &config_map("nope", "x"))
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403, got {other:?}"),
    }

    // The admin credential in the same namespace is allowed: the 403 was RBAC, not the namespace.
    Api::<ConfigMap>::namespaced(admin, &ns)
        .create(&PostParams::default(), &config_map("allowed", "x"))
        .await
        .expect("the admin creates a ConfigMap");
}

#[tokio::test]
async fn coordination_lease_can_be_created_and_renewed() {
    let client = cluster::client().await;
    let ns = cluster::test_namespace(&client, "lease").await;
    let leases: Api<Lease> = Api::namespaced(client, &ns);

    let lease: Lease = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "apigw-compliance-leader" },
        "spec": {
            "holderIdentity": "pod-a",
            "leaseDurationSeconds": 15,
            "acquireTime": "2025-01-01T00:00:00.000000Z",
            "renewTime": "2025-01-01T00:00:00.000000Z",
        }
    }))
    .expect("a Lease object");
    let created = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create the Lease");
    assert_eq!(
        created
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref()),
        Some("pod-a")
    );

    // Renewing is an update guarded by resourceVersion, as leader election does it.
    let mut renewed = created.clone();
    let renew_time: MicroTime =
        serde_json::from_value(serde_json::json!("2025-01-01T00:00:10.000000Z"))
            .expect("a MicroTime");
    renewed.spec.as_mut().expect("the Lease's spec").renew_time = Some(renew_time.clone());
    let renewed = leases
        .replace("apigw-compliance-leader", &PostParams::default(), &renewed)
        .await
        .expect("renew the Lease");
    assert_ne!(
        renewed.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(renewed.spec.and_then(|s| s.renew_time), Some(renew_time));

    // A stale writer (the old resourceVersion) is refused with a conflict.
    match leases
        .replace("apigw-compliance-leader", &PostParams::default(), &created)
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("expected 409 Conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_watch_survives_apiserver_restart_on_same_etcd() {
    // A control plane of its own: restarting the shared one would pull the API server
    // from under the other tests that run at the same time.
    let plane = tokio::task::spawn_blocking(|| cluster::ControlPlane::start("restart"))
        .await
        .expect("join the control plane's start")
        .unwrap_or_else(|e| panic!("cannot start a control plane: {e}"));
    let client = plane.client().await;
    let ns = cluster::test_namespace(&client, "restart").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &config_map("before", "1"))
        .await
        .expect("create ConfigMap before");

    // The watcher as a controller would run it: with backoff, so errors while the API
    // server is away are retried instead of ending the stream.
    let mut events = watcher(config_maps.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    wait_for_value(&mut events, "before", "1").await;

    let pid_before = plane.apiserver_pid();
    let controller_manager_pid = plane.controller_manager_pid();
    // Keep polling the watch while the restart runs, as a controller would; count the
    // errors it reports (connection refused while the server is down).
    let restart = tokio::task::spawn_blocking(move || {
        plane.restart_apiserver();
        plane
    });
    let mut errors_during_restart = 0;
    let mut restart = std::pin::pin!(restart);
    let plane = loop {
        tokio::select! {
            done = &mut restart => break done.expect("the restart finished"),
            event = events.next() => match event {
                Some(Ok(_)) => {}
                Some(Err(_)) => errors_during_restart += 1,
                None => panic!("the watch stream ended during the restart"),
            },
        }
    };
    assert_ne!(
        plane.apiserver_pid(),
        pid_before,
        "kube-apiserver was really restarted"
    );
    eprintln!("watch errors while kube-apiserver restarted: {errors_during_restart}");

    // Same etcd: what was written before the restart is still there.
    let before = config_maps
        .get("before")
        .await
        .expect("ConfigMap before after the restart");
    assert_eq!(
        before
            .data
            .as_ref()
            .and_then(|d| d.get("value"))
            .map(String::as_str),
        Some("1")
    );

    // The same watch stream sees a change made after the restart.
    config_maps
        .create(&PostParams::default(), &config_map("after", "2"))
        .await
        .expect("create ConfigMap after");
    wait_for_value(&mut events, "after", "2").await;

    // The controller-manager was not restarted: it reconnected by itself and its garbage
    // collector still sees owners deleted after the restart.
    assert_eq!(plane.controller_manager_pid(), controller_manager_pid);
    let owner = config_maps
        .create(&PostParams::default(), &config_map("owner", "3"))
        .await
        .expect("create ConfigMap owner");
    let owned = config_maps
        .create(
            &PostParams::default(),
            &owned_by(config_map("owned", "4"), &owner),
        )
        .await
        .expect("create ConfigMap owned");
    config_maps
        .delete("owner", &DeleteParams::default())
        .await
        .expect("delete ConfigMap owner");
    wait_deleted(&config_maps, &owned, "ConfigMap owned after its owner").await;
    drop(events);
    drop(client);
    drop(plane); // stops the private control plane (down)
}

#[tokio::test]
async fn garbage_collector_deletes_what_a_deleted_owner_owned() {
    let client = cluster::client().await;
    let ns = cluster::test_namespace(&client, "gc").await;
    let crd = cluster::apply_crd_yaml(&client, WIDGET_CRD).await;
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &cluster::crd_api_resource(&crd));
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    let owner = config_maps
        .create(&PostParams::default(), &config_map("owner", "1"))
        .await
        .expect("create ConfigMap owner");
    // A built-in object and a custom resource (as a profile's reports are), both owned.
    let owned_config_map = config_maps
        .create(
            &PostParams::default(),
            &owned_by(config_map("owned", "2"), &owner),
        )
        .await
        .expect("create ConfigMap owned");
    let owned_widget = widgets
        .create(
            &PostParams::default(),
            &owned_by(
                widget(
                    "owned",
                    serde_json::json!({"mode": "Observe", "minReplicas": 0, "maxReplicas": 1}),
                ),
                &owner,
            ),
        )
        .await
        .expect("create Widget owned");
    let bystander = config_maps
        .create(&PostParams::default(), &config_map("bystander", "3"))
        .await
        .expect("create ConfigMap bystander");

    // Deleting the owner (background propagation, the API's default for ConfigMaps) is
    // all a client does; the garbage collector deletes the dependents afterwards.
    config_maps
        .delete("owner", &DeleteParams::default())
        .await
        .expect("delete ConfigMap owner");
    wait_deleted(&config_maps, &owned_config_map, "ConfigMap owned").await;
    wait_deleted(&widgets, &owned_widget, "Widget owned").await;

    // Only what the owner owned: the object without owner references is untouched.
    let still_there = config_maps
        .get_opt("bystander")
        .await
        .expect("get ConfigMap bystander")
        .expect("ConfigMap bystander, which nothing owns, still exists");
    assert_eq!(still_there.metadata.uid, bystander.metadata.uid);
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_objects_and_then_the_namespace() {
    let client = cluster::client().await;
    let ns = cluster::test_namespace(&client, "ns-delete").await;
    let crd = cluster::apply_crd_yaml(&client, WIDGET_CRD).await;
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &cluster::crd_api_resource(&crd));
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &config_map("content", "1"))
        .await
        .expect("create ConfigMap content");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": { "name": "content" },
                "stringData": { "value": "1" },
            }))
            .expect("a Secret object"),
        )
        .await
        .expect("create Secret content");
    widgets
        .create(
            &PostParams::default(),
            &widget(
                "content",
                serde_json::json!({"mode": "Enforce", "minReplicas": 1, "maxReplicas": 2}),
            ),
        )
        .await
        .expect("create Widget content");

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = namespaces.get(&ns).await.expect("get the test namespace");
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("delete the test namespace");
    // The namespace controller deletes the content, then removes its `kubernetes`
    // finalizer; only then is the namespace gone (without it, it stays Terminating).
    wait_deleted(&namespaces, &namespace, "the deleted namespace").await;

    // The objects were really deleted, not left behind in etcd: a read by namespace and
    // name would still find them otherwise, namespace or not.
    assert!(
        config_maps
            .get_opt("content")
            .await
            .expect("get ConfigMap content")
            .is_none()
    );
    assert!(
        secrets
            .get_opt("content")
            .await
            .expect("get Secret content")
            .is_none()
    );
    assert!(
        widgets
            .get_opt("content")
            .await
            .expect("get Widget content")
            .is_none()
    );
}

/// `object` with a controller ownerReference to the ConfigMap `owner`, as an operator
/// sets on what it creates for its custom resource. A namespaced owner must be in the
/// dependent's namespace.
fn owned_by<K: ResourceExt>(mut object: K, owner: &ConfigMap) -> K {
    let reference = owner
        .controller_owner_ref(&())
        .expect("a stored ConfigMap has a name and a uid");
    object.owner_references_mut().push(reference);
    object
}

/// Waits until `object` (as it was stored) is deleted: not found, or replaced by a new
/// object of the same name. Fails after [`CONTROLLER_WAIT`] with the object as it is.
async fn wait_deleted<K>(api: &Api<K>, object: &K, what: &str)
where
    K: Resource + Clone + Debug + Send + DeserializeOwned + 'static,
{
    let name = object.name_any();
    let uid = object.uid().expect("a stored object has a uid");
    let deleted = tokio::time::timeout(
        CONTROLLER_WAIT,
        await_condition(api.clone(), &name, conditions::is_deleted(&uid)),
    )
    .await;
    match deleted {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("watching {what}: {e}"),
        Err(_) => panic!(
            "{what} still exists after {CONTROLLER_WAIT:?}: {:?}",
            api.get_opt(&name).await
        ),
    }
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("value".to_owned(), value.to_owned())])),
        ..Default::default()
    }
}

/// Reads watch events until the ConfigMap `name` is seen with data `value=<value>`;
/// fails after [`WAIT`]. Watch errors are skipped (the backoff stream retries).
async fn wait_for_value<S>(events: &mut S, name: &str, value: &str)
where
    S: futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin,
{
    let seen = async {
        while let Some(event) = events.next().await {
            let cm = match event {
                Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => cm,
                Ok(_) | Err(_) => continue,
            };
            let data = cm.data.clone().unwrap_or_default();
            if cm.metadata.name.as_deref() == Some(name)
                && data.get("value").map(String::as_str) == Some(value)
            {
                return;
            }
        }
        panic!("the watch stream ended before {name}={value} was seen");
    };
    tokio::time::timeout(WAIT, seen)
        .await
        .unwrap_or_else(|_| panic!("no watch event with {name}={value} within {WAIT:?}"));
}
