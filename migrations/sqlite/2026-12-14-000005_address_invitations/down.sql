DROP TABLE address_invitations;
