"""Calls whose deadline runs out while they wait for a thread of the pool: the server reads
their peer on the event loop while the call is alive (server/dispatch.py's unary), so a
storm of them neither crashes the process (a segmentation fault when a thread read the peer
of a call its client had already given up) nor leaves admission tickets behind."""

from __future__ import annotations

import threading
import time

import grpc

from bench import streams
from clients.auth import open_channel
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from tests.server.test_streams import busy_rpc_threads, wait_for


def test_calls_that_expire_waiting_for_a_thread_leave_the_server_whole(tmp_path):
    """The pool's three threads held by client streams (two an office's, one an admin's);
    300 calls with no key and 20 ms deadlines queue behind them and expire. Once the streams
    end, the server answers, and no call is left counted in flight."""
    bounds = {"max_workers": 3, "max_calls_per_key": 2, "max_calls": 2}
    with streams.own_server(tmp_path, **bounds) as running:
        world = streams.setup(running)
        target = f"127.0.0.1:{running.port}"
        hold = threading.Event()

        def chunks():
            yield api.ImportHouseholdsRequest()
            hold.wait(60)

        assert running.keys is not None
        admin = running.keys.create(streams.Role.ADMIN).secret
        channel = open_channel(target, api_key=world.office_key)
        admin_channel = open_channel(target, api_key=admin)
        keyless = grpc.insecure_channel(target)
        office = api_grpc.RegistryServiceStub(channel)
        read = api.GetHouseholdRequest(id=world.household_id)
        held = [office.ImportHouseholds.future(chunks(), timeout=60) for _ in range(2)]
        root = api_grpc.RegistryServiceStub(admin_channel)
        try:
            wait_for(lambda: streams.in_flight(running.metrics, "calls") == 2)
            held.append(root.ImportHouseholds.future(chunks(), timeout=60))
            wait_for(lambda: busy_rpc_threads() == 3)
            anyone = api_grpc.RegistryServiceStub(keyless)
            expired = [anyone.GetHousehold.future(read, timeout=0.02) for _ in range(300)]
            codes = {call.exception().code() for call in expired}  # each one ended
            assert codes == {grpc.StatusCode.DEADLINE_EXCEEDED}
        finally:
            hold.set()
            for call in held:
                call.cancel()
        time.sleep(0.5)  # the expired calls' threads run now, after their clients left
        assert office.GetHousehold(read, timeout=30).id == world.household_id
        wait_for(lambda: streams.in_flight(running.metrics, "calls") == 0)
        for each in (channel, admin_channel, keyless):
            each.close()
