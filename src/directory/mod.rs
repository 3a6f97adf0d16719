//! Directory sync: people and teams from the identity provider. So far the
//! SCIM 2.0 filter language ([`scim::filter`]) that identity providers'
//! list requests use; the SCIM service provider (`/scim/v2`) and the
//! LDAP/Active Directory pull follow (issue 20).

pub mod scim;
