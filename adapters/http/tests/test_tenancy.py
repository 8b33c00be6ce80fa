"""Tasks belong to accounts: every app that acts for an account sees and cancels its tasks, and
no app sees a task of an account it does not act for."""

from __future__ import annotations

from .conftest import World, basic


def test_another_app_granted_the_same_account_reads_lists_and_cancels_the_task(
    world: World,
) -> None:
    other, secret = world.admin.create_app(["acct-a"])
    colleague = basic(other.app_id, secret)
    task_id = world.create(world.a)["taskId"]

    read = world.client.get(f"/data/deletion-requests/{task_id}", headers=colleague)
    assert read.status_code == 200
    assert read.json()["createdBy"] == world.app_a
    listed = world.client.get("/data/deletion-requests", headers=colleague).json()
    assert [entry["taskId"] for entry in listed] == [task_id]
    cancelled = world.client.delete(f"/data/deletion-requests/{task_id}", headers=colleague)
    assert cancelled.status_code == 200


def test_an_app_of_another_account_gets_404_and_changes_nothing(world: World) -> None:
    task_id = world.create(world.a)["taskId"]

    for method in ("GET", "DELETE"):
        answer = world.client.request(method, f"/data/deletion-requests/{task_id}", headers=world.b)
        assert answer.status_code == 404
        assert answer.json()["error"]["error"] == "NOT_FOUND"
    assert world.client.get("/data/deletion-requests", headers=world.b).json() == []
    mine = world.client.get(f"/data/deletion-requests/{task_id}", headers=world.a).json()
    assert mine["status"] == "pending"
