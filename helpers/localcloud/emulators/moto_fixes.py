"""Fixes to moto behaviour the scenarios rely on. Applied in the gateway process only; each has a test.

- CloudFormation `AWS::EC2::VPCEndpoint` with a `PolicyDocument` object: moto stores the Python repr
  of the dict; AWS stores JSON. Any code doing json.loads(PolicyDocument) breaks. Serialize it as JSON.
- Deleting a stack leaves its VPC endpoints `available` in moto; AWS deletes them. Delete them.
- Deleting a stack cannot delete its route tables in moto: a SubnetRouteTableAssociation has no delete of
  its own (moto's fallback deletes by its physical id, which is the route table's), so the route table, and
  then the VPC, stay behind. Disassociate the subnet; delete a route table after its associations.
- Deleting a Glue crawler, job or database leaves its tags in moto, so the tagging API keeps listing the deleted
  resource and clean-up could never prove that nothing is left. Delete the tags with the resource.
"""

from __future__ import annotations

import json


def apply() -> None:
    from moto.ec2.models.vpcs import VPCEndPoint

    if getattr(VPCEndPoint, "_workbook_fixed", False):
        return
    original = VPCEndPoint.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("PolicyDocument"), dict):
            properties["PolicyDocument"] = json.dumps(properties["PolicyDocument"])
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    def delete(self, account_id, region_name):
        # moto deletes a stack's resources in no set order: the route table may already be gone.
        self.route_table_ids = [r for r in (self.route_table_ids or []) if r in self.ec2_backend.route_tables]
        self.ec2_backend.delete_vpc_endpoints([self.id])

    VPCEndPoint.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    VPCEndPoint.delete = delete
    VPCEndPoint._workbook_fixed = True

    from moto.ec2.models.route_tables import RouteTable

    def delete_route_table(self, account_id, region_name):
        for association_id in list(self._associations):
            self.ec2_backend.disassociate_route_table(association_id)
        self.ec2_backend.delete_route_table(self.id)

    RouteTable.delete = delete_route_table

    from moto.ec2.models.subnets import SubnetRouteTableAssociation

    def delete_association(self, account_id, region_name):
        from moto.ec2.models import ec2_backends

        backend = ec2_backends[account_id][region_name]
        table = backend.route_tables.get(self.route_table_id)
        for association_id, subnet_id in list(table._associations.items()) if table else []:
            if subnet_id == self.subnet_id:
                backend.disassociate_route_table(association_id)

    SubnetRouteTableAssociation.delete = delete_association

    from moto.glue.models import GlueBackend

    def untagging(delete, kind):
        def delete_and_untag(self, name, *args, **kwargs):
            result = delete(self, name, *args, **kwargs)
            self.tagger.delete_all_tags_for_resource(f"arn:aws:glue:{self.region_name}:{self.account_id}:{kind}/{name}")
            return result

        return delete_and_untag

    GlueBackend.delete_crawler = untagging(GlueBackend.delete_crawler, "crawler")
    GlueBackend.delete_job = untagging(GlueBackend.delete_job, "job")
    GlueBackend.delete_database = untagging(GlueBackend.delete_database, "database")
